/* pipeline: the stage runner (placeholder until the stages land). */
#include "util.h"
