#include "util/durability.h"

#include <strings.h>

int durability_parse(const char *s)
{
    if (!s) return -1;
    if (strcasecmp(s, "committed") == 0) return DUR_COMMITTED;
    if (strcasecmp(s, "durable") == 0) return DUR_DURABLE;
    if (strcasecmp(s, "buffered") == 0) return DUR_BUFFERED;
    if (strcasecmp(s, "off") == 0) return DUR_OFF;
    return -1;
}

const char *durability_name(durability_t d)
{
    return d == DUR_COMMITTED  ? "committed"
           : d == DUR_DURABLE  ? "durable"
           : d == DUR_BUFFERED ? "buffered"
                               : "off";
}
