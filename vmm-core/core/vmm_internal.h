/* SPDX-License-Identifier: MIT */
/* vmm-core private declarations: never included from another module. The
 * report's are report/report_internal.h. */
#ifndef VMM_CORE_VMM_INTERNAL_H
#define VMM_CORE_VMM_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "vmm-core/vmm.h"

/* ------------------------------------------------------------------------
 * Trace workloads (vm_trace.c) and the `trace` command (cmd_trace.c).
 */
#define VMM_TRACE_PREFIX "trace:"

/* Does workload name traces ("trace:PATH[,trace:PATH...]")? */
bool vmm_workload_is_trace(const char *workload);
/* Call fn(ctx, path) for each trace path of workload, in order. Returns
 * 0, fn's first non-zero value, or -EINVAL for a malformed list. */
int vmm_trace_foreach(const char *workload, int (*fn)(void *ctx, const char *path),
		      void *ctx) MUST_CHECK;
#endif
