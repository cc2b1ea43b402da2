/*
 * check.h - the internal error policy in one macro. An internal function
 * that can fail returns MQ_OK or a negative MQ_ERR_* (or false/NULL) and
 * is declared MQI_MUST_CHECK: the compiler then reports every caller that
 * ignores the result. Where ignoring it is the decision, the caller says
 * so in an `if` with a comment (a (void) cast does not silence GCC). The
 * policy itself (who reacts to what, and the one reaction to out of
 * memory) is in docs/internals/architecture.md, "Errors".
 *
 * Threading: not applicable.
 */
#ifndef MQI_CHECK_H
#define MQI_CHECK_H

#if defined(__GNUC__) || defined(__clang__)
#define MQI_MUST_CHECK __attribute__((warn_unused_result))
#else
#define MQI_MUST_CHECK
#endif

#endif
