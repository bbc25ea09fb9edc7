/* SPDX-License-Identifier: MIT */
/* cli: memvisor's commands, one entry point each: argv from the command's
 * name on; each returns the exit status (0 success, 1 runtime failure, 2
 * usage, config or input error). Not for other files. */
#ifndef VMM_CORE_CLI_H
#define VMM_CORE_CLI_H

#include "vmm-core/core/vmm_internal.h"

int vmm_cmd_run(int argc, char **argv);	   /* cmd_run.c */
int vmm_cmd_report(int argc, char **argv); /* cmd_report.c */
int vmm_cmd_trace(int argc, char **argv);  /* cmd_trace.c */
/* `memvisor share [--json] [--verify] [--order O] IMAGE...` (share.c) */
int vmm_cmd_share(int argc, char **argv);
/* `memvisor kvm-mode [shadow|nested]` (kvm/kvm_mode.c): say what provides
 * the host's /dev/kvm and its paging mode, or switch a hardware KVM's mode
 * by reloading kvm_amd / kvm_intel (0 hardware KVM, 3 none, 1 when a
 * switch fails, 2 for a usage error) */
int vmm_cmd_kvm_mode(int argc, char **argv);

#endif
