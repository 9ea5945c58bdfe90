/*
 * A small test harness in the spirit of libvirt's testutils: each test
 * program runs a table of named cases, prints one line per case and ends
 * with the summary line "N passed, N failed" that tests/run-tests.sh adds up.
 *
 *   static int test_foo(const void *data) { CHECK(1 + 1 == 2); return 0; }
 *   int main(void) { TEST_RUN("foo", test_foo, NULL); return test_summary(); }
 *
 * A case fails when its function returns non-zero; CHECK() prints the
 * failing condition with its location and returns -1.
 */
#ifndef CLOUDNET_TESTLIB_H
#define CLOUDNET_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed;
static int test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr, "  %s:%d: %s != %s\n    got:      %s\n    expected: %s\n", __FILE__,   \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                              \
                    check_b_ ? check_b_ : "(null)");                                               \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static inline void
test_run(const char *name, int (*fn)(const void *), const void *data)
{
    int rc = fn(data);
    if (rc == 0) {
        test_passed++;
        printf("ok   %s\n", name);
    } else {
        test_failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

#define TEST_RUN(name, fn, data) test_run((name), (fn), (data))

static inline int
test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The source tree's tests/ folder, so data files are found from any cwd. */
static inline const char *
test_srcdir(void)
{
    const char *d = getenv("TEST_SRCDIR");
    return d && *d ? d : "tests";
}

#endif /* CLOUDNET_TESTLIB_H */
