/* fuzz_image_webp: image_check() of lib/image.c on bytes given as a .webp file. */
#define FUZZ_FORMAT IMG_WEBP
#include "fuzz_image.h"
