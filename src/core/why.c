#include "core/why.h"

#include <stdarg.h>
#include <stdio.h>

void kw_set_why(char *why, unsigned len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}
