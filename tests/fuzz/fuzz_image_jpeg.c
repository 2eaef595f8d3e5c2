/* fuzz_image_jpeg: image_check() of lib/image.c on bytes given as a .jpeg file. */
#define FUZZ_FORMAT IMG_JPEG
#include "fuzz_image.h"
