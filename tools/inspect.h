/*
 * inspect.h - the commands of hakmem-inspect, the C part of hakmemctl.
 */
#ifndef HAK_TOOLS_INSPECT_H
#define HAK_TOOLS_INSPECT_H

/* Print "hakmemctl: MSG 'ARG'" and "Try 'hakmemctl --help'." and exit 2. */
__attribute__((noreturn)) void inspect_usage_error(const char *msg, const char *arg);

/* inspect_config.c: each takes the arguments after its command's name. */
int inspect_check_config(int argc, char **argv);
int inspect_explain(int argc, char **argv);

#endif
