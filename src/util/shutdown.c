/* Shutdown hook registry. */
#include "util/shutdown.h"

#include "util/log.h"

#define MAX_HOOKS 32

static struct {
    const char *name;
    void (*fn)(void *);
    void *arg;
} hooks[MAX_HOOKS];
static int nhooks;

int shutdown_hook_add(const char *name, void (*fn)(void *), void *arg)
{
    if (nhooks == MAX_HOOKS) return -1;
    hooks[nhooks].name = name;
    hooks[nhooks].fn = fn;
    hooks[nhooks].arg = arg;
    nhooks++;
    return 0;
}

void shutdown_hooks_run(void)
{
    while (nhooks > 0) {
        nhooks--;
        log_debug("shutdown: %s", hooks[nhooks].name);
        hooks[nhooks].fn(hooks[nhooks].arg);
    }
}
