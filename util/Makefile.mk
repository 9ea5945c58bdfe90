LIBRARIES += util
util_SRCS := util/buf.c util/err.c util/misc.c util/log.c util/strmap.c
util_LDLIBS :=
