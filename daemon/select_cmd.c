/* select_cmd: `winnowd select` (placeholder). */
#include "util.h"
