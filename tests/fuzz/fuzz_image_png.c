/* fuzz_image_png: image_check() of lib/image.c on bytes given as a .png file. */
#define FUZZ_FORMAT IMG_PNG
#include "fuzz_image.h"
