/*
 * readurl: signing and checking the artifacts' read URLs (readurl.h).
 */
#include "readurl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http.h"
#include "log.h"
#include "util.h"

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int readurl_key_load(const char *path, uint8_t key[READURL_KEY_LEN], char *err, size_t errlen)
{
	char hex[2 * READURL_KEY_LEN + 2];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0) {
		random_hex(hex, READURL_KEY_LEN);
		hex[2 * READURL_KEY_LEN] = '\n';
		size_t n = 2 * READURL_KEY_LEN + 1;
		bool ok = write(fd, hex, n) == (ssize_t)n && fsync(fd) == 0;
		ok = close(fd) == 0 && ok;
		if (!ok) {
			snprintf(err, errlen, "%s: cannot write the URL key: %s", path, strerror(errno));
			unlink(path);
			return -1;
		}
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot make the URL key: %s", path, strerror(errno));
		return -1;
	}
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, 256, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read the URL key: %s", path, strerror(-rc));
		return -1;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	bool ok = len == 2 * READURL_KEY_LEN;
	for (size_t i = 0; ok && i < READURL_KEY_LEN; i++) {
		int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
		ok = hi >= 0 && lo >= 0;
		if (ok)
			key[i] = (uint8_t)(hi << 4 | lo);
	}
	free_secret(text);
	if (!ok) {
		snprintf(err, errlen, "%s: the URL key must be %d lowercase hex characters "
			 "(delete the file to make a new one)", path, 2 * READURL_KEY_LEN);
		return -1;
	}
	return 0;
}

void readurl_sign(const uint8_t key[READURL_KEY_LEN], const char *path, int64_t expires,
		  char sig[READURL_SIG_HEX + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg = xasprintf("GET\n%s\n%lld", path, (long long)expires);

	if (HMAC(EVP_sha256(), key, READURL_KEY_LEN, (const unsigned char *)msg, strlen(msg), mac,
		 &maclen) == NULL || maclen != 32)
		fatalx("readurl: HMAC-SHA256 failed");
	free(msg);
	for (unsigned i = 0; i < 32; i++) {
		sig[2 * i] = "0123456789abcdef"[mac[i] >> 4];
		sig[2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
	}
	sig[READURL_SIG_HEX] = '\0';
}

enum readurl_verdict readurl_check(const uint8_t key[READURL_KEY_LEN], const char *path,
				   const char *expires, const char *sig, int64_t now)
{
	char want[READURL_SIG_HEX + 1];

	if (expires == NULL || sig == NULL || strlen(sig) != READURL_SIG_HEX)
		return READURL_BAD;
	/* Digits only, no sign or leading zero: one text per value, the one signed. */
	size_t n = strlen(expires);
	if (n == 0 || n > 12 || (expires[0] == '0' && n > 1))
		return READURL_BAD;
	for (size_t i = 0; i < n; i++)
		if (expires[i] < '0' || expires[i] > '9')
			return READURL_BAD;
	int64_t e = strtoll(expires, NULL, 10);
	readurl_sign(key, path, e, want);
	if (CRYPTO_memcmp(want, sig, READURL_SIG_HEX) != 0)
		return READURL_BAD;
	return now >= e ? READURL_EXPIRED : READURL_OK;
}
