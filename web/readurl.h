/*
 * readurl: the signed, expiring read URLs of run artifacts (SPEC 7: Lightly's
 * GET /v1/docker/runs/{runId}/artifacts/{artifactId}/readurl answers an
 * absolute URL that its client downloads without a token).
 *
 * A URL is <public url><path>?expires=E&sig=S: E the unix second after which
 * it no longer works, S the lowercase hex of HMAC-SHA256 (OpenSSL) under the
 * database's URL key over "GET\n<path>\n<E>". The key is 32 random bytes kept
 * beside the database (<db>.urlkey, 64 hex characters, mode 0600), made on
 * the first start: URLs survive restarts, and a new key (delete the file)
 * ends every URL given out.
 */
#ifndef WINNOW_WEB_READURL_H
#define WINNOW_WEB_READURL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define READURL_KEY_LEN 32
#define READURL_SIG_HEX 64

/*
 * Reads the key file at path, or makes it (O_EXCL, 0600) when absent.
 * 0, or -1 with a message in err (unreadable, or not 64 hex characters).
 */
int readurl_key_load(const char *path, uint8_t key[READURL_KEY_LEN], char *err, size_t errlen);

/* The signature (64 hex + NUL) of a GET of path that expires at unix second expires. */
void readurl_sign(const uint8_t key[READURL_KEY_LEN], const char *path, int64_t expires,
		  char sig[READURL_SIG_HEX + 1]);

enum readurl_verdict { READURL_OK, READURL_BAD, READURL_EXPIRED };

/*
 * Checks the expires and sig query values (either may be NULL) of a GET of
 * path at unix second now: BAD when missing, malformed or not the key's
 * signature (compared in constant time), EXPIRED when signed but now >= expires.
 */
enum readurl_verdict readurl_check(const uint8_t key[READURL_KEY_LEN], const char *path,
				   const char *expires, const char *sig, int64_t now);

#endif
