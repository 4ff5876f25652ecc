/* Unit tests for config: defaults, value syntax, INI file, environment, flag names, precedence. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "th.h"

int main(void)
{
    config_t c;
    char err[256];
    config_init(&c);
    CHECK_STR(c.listen, "127.0.0.1:8080");
    CHECK_EQ(c.max_header_bytes, 16 * 1024);
    CHECK_EQ(c.max_body_bytes, 8 * 1024 * 1024);
    CHECK_EQ(c.header_timeout_ms, 10000);
    CHECK(c.access_log);
    CHECK(!c.debug_endpoints);

    CHECK_EQ(config_set(&c, "max_body_bytes", "2m", "flag", err, sizeof err), 0);
    CHECK_EQ(c.max_body_bytes, 2 * 1024 * 1024);
    CHECK_EQ(config_set(&c, "idle_timeout_ms", "250ms", "flag", err, sizeof err), 0);
    CHECK_EQ(c.idle_timeout_ms, 250);
    CHECK_EQ(config_set(&c, "idle_timeout_ms", "2m", "flag", err, sizeof err), 0);
    CHECK_EQ(c.idle_timeout_ms, 120000);
    CHECK_EQ(config_set(&c, "access_log", "off", "flag", err, sizeof err), 0);
    CHECK(!c.access_log);
    CHECK_EQ(config_set(&c, "nope", "1", "flag", err, sizeof err), -1);
    CHECK(strstr(err, "nope") != NULL);
    CHECK_EQ(config_set(&c, "max_connections", "-5", "flag", err, sizeof err), -2);
    CHECK(strstr(err, "max_connections") != NULL);
    CHECK_EQ(config_set(&c, "max_header_bytes", "12q", "flag", err, sizeof err), -2);
    CHECK_EQ(config_set(&c, "header_timeout_ms", "10 s", "flag", err, sizeof err), -2);
    CHECK_EQ(config_set(&c, "access_log", "maybe", "flag", err, sizeof err), -2);
    CHECK_EQ(config_set(&c, "threads", "99999999999", "flag", err, sizeof err), -2);

    /* [cache] */
    CHECK_EQ(c.cache_bytes, 64 * 1024 * 1024);
    CHECK_STR(c.redis_url, "");
    CHECK_EQ(c.redis_timeout_ms, 10);
    CHECK_EQ(c.redis_ttl_s, 3600);
    CHECK_EQ(c.redis_queue, 4096);
    CHECK_EQ(config_set(&c, "cache_bytes", "1g", "flag", err, sizeof err), 0);
    CHECK_EQ(c.cache_bytes, 1024LL * 1024 * 1024);
    CHECK_EQ(config_set(&c, "redis_timeout_ms", "1s", "flag", err, sizeof err), 0);
    CHECK_EQ(c.redis_timeout_ms, 1000);
    CHECK_EQ(config_set(&c, "redis_url", "redis://:pw@h:1/2", "flag", err, sizeof err), 0);
    CHECK_STR(c.redis_url, "redis://:pw@h:1/2");

    CHECK_STR(config_key_for_flag("max-body-bytes"), "max_body_bytes");
    CHECK_STR(config_key_for_flag("listen"), "listen");
    CHECK(config_key_for_flag("max-body") == NULL);
    CHECK(config_key_for_flag("bogus") == NULL);

    /* File, then environment: the environment wins over the file. */
    char path[] = "/tmp/inferd-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char ini[] = "[server]\nlisten = 0.0.0.0:9000\nthreads = 3\n"
                       "[limits]\nmax_pipeline = 7\n[log]\nlog_level = debug\n";
    CHECK(write(fd, ini, sizeof ini - 1) == (ssize_t)(sizeof ini - 1));
    close(fd);
    CHECK_EQ(config_load_file(&c, path, err, sizeof err), 0);
    CHECK_STR(c.listen, "0.0.0.0:9000");
    CHECK_EQ(c.threads, 3);
    CHECK_EQ(c.max_pipeline, 7);
    setenv("INFERD_MAX_PIPELINE", "9", 1);
    CHECK_EQ(config_load_env(&c, err, sizeof err), 0);
    CHECK_EQ(c.max_pipeline, 9);
    setenv("INFERD_MAX_PIPELINE", "x", 1);
    CHECK_EQ(config_load_env(&c, err, sizeof err), -1);
    CHECK(strstr(err, "INFERD_MAX_PIPELINE") != NULL);
    unsetenv("INFERD_MAX_PIPELINE");

    /* Errors in a file name the line. */
    fd = open(path, O_WRONLY | O_TRUNC);
    const char bad[] = "[limits]\nmax_pipeline = 1\nmax_body_bytes = lots\n";
    CHECK(write(fd, bad, sizeof bad - 1) == (ssize_t)(sizeof bad - 1));
    close(fd);
    CHECK_EQ(config_load_file(&c, path, err, sizeof err), -1);
    CHECK(strstr(err, ":3:") != NULL && strstr(err, "max_body_bytes") != NULL);
    fd = open(path, O_WRONLY | O_TRUNC);
    const char wrong_section[] = "[server]\nmax_pipeline = 1\n";
    CHECK(write(fd, wrong_section, sizeof wrong_section - 1) ==
          (ssize_t)(sizeof wrong_section - 1));
    close(fd);
    CHECK_EQ(config_load_file(&c, path, err, sizeof err), -1);
    CHECK(strstr(err, "unknown setting") != NULL);
    unlink(path);
    CHECK_EQ(config_load_file(&c, "/nonexistent/inferd.ini", err, sizeof err), -1);

    /* --print-config masks secrets and says where each value came from. */
    CHECK_EQ(config_set(&c, "api_keys", "s3cret", "env", err, sizeof err), 0);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    config_print(&c, f);
    fclose(f);
    CHECK(strstr(out, "s3cret") == NULL);
    CHECK(strstr(out, "api_keys = ***    ; env") != NULL);
    CHECK(strstr(out, "listen = 0.0.0.0:9000    ; file") != NULL);
    CHECK(strstr(out, "max_header_bytes = 16384    ; default") != NULL);
    free(out);
    config_deinit(&c);
    return TH_DONE();
}
