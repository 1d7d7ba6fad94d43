/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The extension backend's commands as upstream (>= v0.28.2) runs them:
 * split on whitespace, $VAR and ${VAR} expanded in each word from the
 * command's environment, no shell. Pure (no I/O), unit tested.
 */
#ifndef FLANNELD_EXT_CMD_H
#define FLANNELD_EXT_CMD_H

/*
 * argv for cmd: each whitespace-separated word with its variables taken
 * from vars ("NAME=value", NULL-terminated; these win) then from env (the
 * same form; NULL: none); an unset variable is empty. NULL-terminated,
 * malloc'd (extcmd_free). -EINVAL when cmd has no word, -ENOMEM.
 */
int extcmd_argv(const char *cmd, char *const vars[], char *const env[], char ***ret);

/*
 * env (NULL: none) with vars added, a variable in both taken from vars;
 * malloc'd. FLANNELD_ETCD_* (the daemon's credentials) are left out, here
 * and in extcmd_argv's expansion.
 */
int extcmd_env(char *const vars[], char *const env[], char ***ret);

/* Frees what the two above return (the strings of extcmd_env's are borrowed, not freed). */
void extcmd_free(char **v);
void extcmd_env_free(char **v);

#endif
