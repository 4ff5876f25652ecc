/* Shutdown hooks: subsystems register a function that stops their threads and flushes their
 * state; `inferd serve` runs them in reverse order of registration after the HTTP drain and
 * before the event loops stop, so replies they produce still reach clients. */
#ifndef INFERD_UTIL_SHUTDOWN_H
#define INFERD_UTIL_SHUTDOWN_H

/* Registers fn(arg). At most 32 hooks; returns 0 or -1 when full. Not thread-safe: start-up only.
 */
int shutdown_hook_add(const char *name, void (*fn)(void *), void *arg);
/* Runs and forgets every hook, last registered first. */
void shutdown_hooks_run(void);

#endif
