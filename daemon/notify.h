/*
 * notify: systemd's sd_notify protocol, spoken directly (a datagram to
 * $NOTIFY_SOCKET), so winnowd needs no libsystemd. A no-op outside systemd.
 */
#ifndef WINNOWD_NOTIFY_H
#define WINNOWD_NOTIFY_H

/* Sends one state string ("READY=1", "STATUS=..."). Returns 0 or a negative errno. */
int notify_send(const char *state);

/* The watchdog interval ($WATCHDOG_USEC for this process) in seconds, 0 when off. */
double notify_watchdog_seconds(void);

#endif
