/* libFuzzer target: the request-head parser, with the invariants the rest
 * of the program relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	char *buf;
	size_t n = size > HTTP_HEAD_MAX ? HTTP_HEAD_MAX : size;

	/* An exact-size copy, so ASan sees any read past the end. */
	buf = malloc(n ? n : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, n);
	if (http_parse(buf, n, &req) == HTTP_PARSE_DONE) {
		if (req.status == HTTP_200 &&
		    (req.head_len == 0 || req.head_len > n ||
		     req.method == NULL || req.target == NULL))
			abort();
		if (req.method != NULL &&
		    (req.method < buf || req.method + req.method_len > buf + n))
			abort();
		if (req.minor < 0 || req.minor > 1)
			abort();
		/* Accept's choice: one of ours, from q values in range. */
		if ((unsigned)req.media > HTTP_MEDIA_HEALTH_JSON ||
		    req.q_json < 0 || req.q_json > 1000 || req.q_health < 0 ||
		    req.q_health > 1000)
			abort();
	} else if (n >= HTTP_HEAD_MAX) {
		abort(); /* a full buffer must be decided */
	}
	/* The same bytes as a chunked body: never more eaten than given,
	 * and nothing eaten past its end. */
	{
		struct http_chunked ch;
		size_t used;

		memset(&ch, 0, sizeof(ch));
		used = http_chunked_eat(&ch, buf, n);
		if (used > n || (used < n && ch.state != HTTP_CHUNK_DONE &&
				 ch.state != HTTP_CHUNK_BAD))
			abort();
	}
	free(buf);
	return 0;
}
