/* select_cmd: `winnowd select`, local mode (one config on one folder, in the foreground). */
#ifndef WINNOW_SELECT_CMD_H
#define WINNOW_SELECT_CMD_H

/* Returns the process exit code: 0 done, 1 run failed, 2 usage or config error. */
int select_main(int argc, char **argv);

#endif
