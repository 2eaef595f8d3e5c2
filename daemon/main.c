/*
 * winnowd: the worker. `winnowd [--config FILE]` is the daemon (daemon.c);
 * `winnowd select ...` runs one config on a local folder (local mode);
 * `winnowd --version` prints the version and the libraries;
 * `winnowd sanity-check [--config FILE]` prints them too, then checks the
 * state dir, the web app and the token (sanity.c).
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <jpeglib.h>
#include <png.h>
#include <sqlite3.h>
#include <uv.h>
#include <webp/decode.h>
#include <xxhash.h>

#include "log.h"
#include "sanity.h"
#include "select_cmd.h"
#include "version.h"
#include "winnowd.h"

static void print_version(void)
{
	int webp = WebPGetDecoderVersion();

	printf("winnowd %s\n", WINNOW_VERSION);
	printf("  libuv %s, libcurl %s, sqlite %s, cJSON %s\n", uv_version_string(),
	       curl_version_info(CURLVERSION_NOW)->version, sqlite3_libversion(), cJSON_Version());
	printf("  libjpeg-turbo (libjpeg %d), libpng %s, libwebp %d.%d.%d, xxhash %u\n",
	       JPEG_LIB_VERSION, png_get_libpng_ver(NULL), webp >> 16, (webp >> 8) & 0xff,
	       webp & 0xff, XXH_versionNumber());
}

int main(int argc, char **argv)
{
	log_init("winnowd", LOG_LVL_INFO);
	if (argc >= 2 && strcmp(argv[1], "select") == 0)
		return select_main(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
		print_version();
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "sanity-check") == 0) {
		print_version();
		return sanity_main(argc - 1, argv + 1);
	}
	return daemon_main(argc, argv);
}
