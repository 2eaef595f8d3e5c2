/* fuzz_image_bmp: image_check() of lib/image.c on bytes given as a .bmp file. */
#define FUZZ_FORMAT IMG_BMP
#include "fuzz_image.h"
