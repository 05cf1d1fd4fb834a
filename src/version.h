/* version: the release, one place for the binary, the Makefile and the
 * package to read it from. */
#ifndef VERSION_H
#define VERSION_H

#define VERSION "1.0.0"

#endif
