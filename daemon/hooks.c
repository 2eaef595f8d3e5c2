/* hooks: the test seams' one instance, empty in winnowd (hooks.h). */
#include "hooks.h"

struct wd_hooks wd_hooks;
