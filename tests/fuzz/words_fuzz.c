/* libFuzzer target: the --script word splitter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/words.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char **argv;
	const char *err;
	size_t argc, i, total = 0;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (words_split(s, &argv, &argc, &err) == 0) {
		if (argc == 0 || argv[argc] != NULL)
			abort();
		for (i = 0; i < argc; i++)
			total += strlen(argv[i]) + 1;
		if (total > strlen(s) + 1)
			abort(); /* words never outgrow their input */
		free(argv);
	} else if (err == NULL) {
		abort();
	}
	free(s);
	return 0;
}
