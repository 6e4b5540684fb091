/*
 * Field patterns on characters.  See pattern.h.
 */
#include <locale.h>
#include <stdio.h>

#include "pattern.h"

/*
 * The C.UTF-8 locale for LC_CTYPE, made at the first use: when the
 * configuration is loaded, before the handler confines itself (it reads
 * /usr/lib/locale).  (locale_t)0 when the system has none: then the
 * current locale, and patterns work on bytes.
 */
static locale_t
utf8_ctype(void)
{
	static locale_t loc;
	static int tried;

	if (!tried) {
		tried = 1;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	return loc;
}

int
pattern_compile(regex_t *re, const char *src, char *err, size_t errsz)
{
	locale_t utf8 = utf8_ctype(), old = (locale_t)0;
	char anchored[512];
	int r;

	snprintf(anchored, sizeof(anchored), "^(%s)$", src);
	if (utf8 != (locale_t)0)
		old = uselocale(utf8);
	r = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
	if (r != 0)
		regerror(r, re, err, errsz);
	if (utf8 != (locale_t)0)
		uselocale(old);
	return r == 0 ? 0 : -1;
}

int
pattern_match(const regex_t *re, const char *value)
{
	locale_t utf8 = utf8_ctype(), old = (locale_t)0;
	int r;

	if (utf8 != (locale_t)0)
		old = uselocale(utf8);
	r = regexec(re, value, 0, NULL, 0);
	if (utf8 != (locale_t)0)
		uselocale(old);
	return r == 0;
}
