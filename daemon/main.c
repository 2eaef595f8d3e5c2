/* winnowd: entry point (placeholder). */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "winnowd: not built yet\n");
	return 1;
}
