/* Test-only shim, never shipped: Rust's Windows standard library imports
 * bcryptprimitives.dll!ProcessPrng (Windows 10+), which Debian's Wine 8
 * lacks. `cargo xtask` builds this with mingw and puts it beside the .exe
 * files it runs under Wine (with WINEDLLOVERRIDES=bcryptprimitives=n,b),
 * where it fills the buffer from RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
