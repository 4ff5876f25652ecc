/* Unit tests for util/buf: growth, consume, printf and JSON string escaping. */
#include <stdint.h>

#include "th.h"
#include "util/buf.h"

int main(void)
{
    buf_t b;
    buf_init(&b);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(buf_append(&b, "hello", 5), 0);
    CHECK_EQ(b.len, 5);
    for (int i = 0; i < 1000; i++) CHECK_EQ(buf_printf(&b, "%04d", i), 0);
    CHECK_EQ(b.len, 5 + 4000);
    CHECK(memcmp(b.data + 5, "00000001", 8) == 0);
    CHECK(memcmp(b.data + b.len - 4, "0999", 4) == 0);
    buf_consume(&b, 5);
    CHECK_EQ(b.len, 4000);
    CHECK(memcmp(b.data, "0000", 4) == 0);
    buf_consume(&b, 100000);
    CHECK_EQ(b.len, 0);

    /* A formatted string longer than the first reservation takes the second vsnprintf path. */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ(buf_printf(&b, "[%s]", big), 0);
    CHECK_EQ(b.len, 1001);
    CHECK(b.data[0] == '[' && b.data[1000] == ']');

    b.len = 0;
    CHECK_EQ(buf_json_str(&b, "a\"b\\c\n\x01\x7f", 8), 0);
    CHECK_EQ(b.len, strlen("\"a\\\"b\\\\c\\n\\u0001\\u007f\""));
    CHECK(memcmp(b.data, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"", b.len) == 0);

    CHECK_EQ(buf_reserve(&b, 1 << 20), 0);
    CHECK(buf_room(&b) >= (1u << 20));
    CHECK(buf_reserve(&b, SIZE_MAX) != 0); /* refused, not wrapped */
    buf_deinit(&b);
    CHECK(b.data == NULL && b.cap == 0);
    return TH_DONE();
}
