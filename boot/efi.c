/* The narrow interface between keel and the UEFI firmware: files, memory, CPUs, next image.
 * UEFI boot services only; the one place (with boot/main.c) that knows firmware types. */
#include <efi.h>

#include "efi.h"
#include "mp_services.h"

#include "../lib/log.h"
#include "../lib/string.h"


static EFI_HANDLE image;
static EFI_SYSTEM_TABLE *st;
static EFI_BOOT_SERVICES *bs;
static EFI_LOADED_IMAGE *loaded;
static struct mp_services *mp;

#define AP_TIMEOUT_US 20000000 /* an AP that has not finished in 20 s is reported, not waited for */

static EFI_GUID loaded_image_guid = LOADED_IMAGE_PROTOCOL;
static EFI_GUID fs_guid = SIMPLE_FILE_SYSTEM_PROTOCOL;
static EFI_GUID device_path_guid = DEVICE_PATH_PROTOCOL;
static EFI_GUID mp_guid = MP_SERVICES_GUID;

/* Firmware status codes by name, for messages. */
static const char *status_name(EFI_STATUS s)
{
	switch (s) {
	case EFI_SUCCESS: return "EFI_SUCCESS";
	case EFI_LOAD_ERROR: return "EFI_LOAD_ERROR";
	case EFI_INVALID_PARAMETER: return "EFI_INVALID_PARAMETER";
	case EFI_UNSUPPORTED: return "EFI_UNSUPPORTED";
	case EFI_BUFFER_TOO_SMALL: return "EFI_BUFFER_TOO_SMALL";
	case EFI_NOT_READY: return "EFI_NOT_READY";
	case EFI_DEVICE_ERROR: return "EFI_DEVICE_ERROR";
	case EFI_OUT_OF_RESOURCES: return "EFI_OUT_OF_RESOURCES";
	case EFI_NOT_FOUND: return "EFI_NOT_FOUND";
	case EFI_ACCESS_DENIED: return "EFI_ACCESS_DENIED";
	case EFI_TIMEOUT: return "EFI_TIMEOUT";
	case EFI_SECURITY_VIOLATION: return "EFI_SECURITY_VIOLATION";
	case EFI_ABORTED: return "EFI_ABORTED";
	default: return "EFI error";
	}
}

int efi_init(void *image_handle, void *system_table)
{
	image = image_handle;
	st = system_table;
	bs = st->BootServices;
	EFI_STATUS s = bs->HandleProtocol(image, &loaded_image_guid, (void **)&loaded);
	if (EFI_ERROR(s)) {
		log_err("keel: cannot get the loaded-image protocol: %s", status_name(s));
		loaded = 0;
		return -1;
	}
	if (EFI_ERROR(bs->LocateProtocol(&mp_guid, 0, (void **)&mp)))
		mp = 0;
	return 0;
}

size_t efi_load_options(char *buf, size_t size)
{
	if (!loaded || !loaded->LoadOptions || !loaded->LoadOptionsSize || !size)
		return 0;
	const CHAR16 *w = loaded->LoadOptions;
	size_t n = loaded->LoadOptionsSize / sizeof(CHAR16), out = 0;
	for (size_t i = 0; i < n && w[i] && out + 1 < size; i++)
		buf[out++] = w[i] < 0x80 ? (char)w[i] : '?';
	buf[out] = 0;
	return out;
}

static size_t ascii_to_ucs2(CHAR16 *dst, size_t max, const char *src)
{
	size_t n = 0;
	while (src[n] && n + 1 < max) {
		dst[n] = (unsigned char)src[n];
		n++;
	}
	dst[n] = 0;
	return n;
}

static EFI_FILE_HANDLE open_root(void)
{
	EFI_FILE_IO_INTERFACE *fs;
	EFI_FILE_HANDLE root;
	if (!loaded || EFI_ERROR(bs->HandleProtocol(loaded->DeviceHandle, &fs_guid, (void **)&fs)))
		return 0;
	if (EFI_ERROR(fs->OpenVolume(fs, &root)))
		return 0;
	return root;
}

long efi_read_file(const char *path, char *buf, size_t size)
{
	CHAR16 wpath[256];
	EFI_FILE_HANDLE root = open_root(), f;
	long ret;

	if (!root) {
		log_err("keel: cannot open keel's own volume to read %s", path);
		return -3;
	}
	ascii_to_ucs2(wpath, 256, path);
	EFI_STATUS s = root->Open(root, &f, wpath, EFI_FILE_MODE_READ, 0);
	if (s == EFI_NOT_FOUND) {
		root->Close(root);
		return -1;
	}
	if (EFI_ERROR(s)) {
		log_err("keel: cannot open %s: %s", path, status_name(s));
		root->Close(root);
		return -3;
	}
	UINTN n = size;
	s = f->Read(f, &n, buf);
	if (EFI_ERROR(s)) {
		log_err("keel: cannot read %s: %s", path, status_name(s));
		ret = -3;
	} else if (n == size) {
		char probe;
		UINTN one = 1;
		ret = (!EFI_ERROR(f->Read(f, &one, &probe)) && one) ? -2 : (long)n;
	} else {
		ret = (long)n;
	}
	f->Close(f);
	root->Close(root);
	return ret;
}

void efi_console_write(const char *s, size_t n)
{
	CHAR16 w[130];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			w[k++] = '\r';
		w[k++] = (unsigned char)s[i];
		if (k >= 126 || i + 1 == n) {
			w[k] = 0;
			st->ConOut->OutputString(st->ConOut, w);
			k = 0;
		}
	}
}

static unsigned dp_node_len(const EFI_DEVICE_PATH *n) { return n->Length[0] | n->Length[1] << 8; }

/*
 * Whether a device path (size bytes at most, possibly several instances) names COM1's UART: an
 * ACPI node PNP0501 with UID 0 (the first ISA serial port, I/O 0x3F8 on PCs) followed in the same
 * instance by a UART messaging node. A UART on PCI (a serial-over-LAN port) is another port.
 */
static int dp_names_com1(const UINT8 *p, size_t size)
{
	int com1 = 0;
	for (size_t off = 0; off + 4 <= size;) {
		const EFI_DEVICE_PATH *n = (const EFI_DEVICE_PATH *)(p + off);
		unsigned len = dp_node_len(n);
		if (len < 4 || off + len > size)
			return 0;
		if (n->Type == END_DEVICE_PATH_TYPE) {
			if (n->SubType == END_ENTIRE_DEVICE_PATH_SUBTYPE)
				return 0;
			com1 = 0; /* the next instance */
		} else if (n->Type == ACPI_DEVICE_PATH && n->SubType == ACPI_DP && len >= sizeof(ACPI_HID_DEVICE_PATH)) {
			const ACPI_HID_DEVICE_PATH *a = (const ACPI_HID_DEVICE_PATH *)n;
			com1 = a->HID == EISA_PNP_ID(0x0501) && a->UID == 0;
		} else if (n->Type == MESSAGING_DEVICE_PATH && n->SubType == MSG_UART_DP && com1) {
			return 1;
		}
		off += len;
	}
	return 0;
}

int efi_console_mirrors_com1(void)
{
	static EFI_GUID global_guid = EFI_GLOBAL_VARIABLE, text_out_guid = SIMPLE_TEXT_OUTPUT_PROTOCOL;
	static UINT8 conout[4096];
	UINTN size = sizeof(conout), count = 0;
	UINT32 attr;
	EFI_HANDLE *handles;
	int found = 0;

	/* The ConOut variable lists the devices the console writes to; a listed device may still be
	 * absent, so a text output bound to COM1 must exist too. Either missing: not mirrored. */
	if (EFI_ERROR(st->RuntimeServices->GetVariable(L"ConOut", &global_guid, &attr, &size, conout)) ||
	    !dp_names_com1(conout, size))
		return 0;
	if (EFI_ERROR(bs->LocateHandleBuffer(ByProtocol, &text_out_guid, 0, &count, &handles)))
		return 0;
	for (UINTN i = 0; i < count && !found; i++) {
		EFI_DEVICE_PATH *dp = 0;
		if (!EFI_ERROR(bs->HandleProtocol(handles[i], &device_path_guid, (void **)&dp)) && dp)
			found = dp_names_com1((const UINT8 *)dp, 64 * 1024);
	}
	bs->FreePool(handles);
	return found;
}

static enum mem_type convert_type(UINT32 t)
{
	switch (t) {
	case EfiLoaderCode:
	case EfiLoaderData:
	case EfiBootServicesCode:
	case EfiBootServicesData:
	case EfiConventionalMemory:
		return MEM_USABLE;
	case EfiRuntimeServicesCode:
	case EfiRuntimeServicesData:
		return MEM_RUNTIME;
	case EfiUnusableMemory:
		return MEM_UNUSABLE;
	case EfiACPIReclaimMemory:
		return MEM_ACPI;
	case EfiACPIMemoryNVS:
		return MEM_NVS;
	case EfiMemoryMappedIO:
	case EfiMemoryMappedIOPortSpace:
		return MEM_MMIO;
	case 14: /* EfiPersistentMemory */
		return MEM_PERSISTENT;
	default:
		return MEM_RESERVED;
	}
}

int efi_memory_map(struct mem_region *r, size_t max)
{
	static char buf[64 * 1024];
	UINTN size = sizeof(buf), key, dsize;
	UINT32 dver;
	EFI_STATUS s = bs->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)buf, &key, &dsize, &dver);
	if (EFI_ERROR(s)) {
		log_err("keel: GetMemoryMap failed: %s (needs %lu bytes)", status_name(s), (unsigned long)size);
		return -1;
	}
	/* Neighbours of one type merge (firmware maps split runs by attributes keel does not use), so
	 * a long map fits; what still does not fit is reported, never dropped silently. */
	size_t n = 0, dropped = 0, total = 0;
	for (UINTN off = 0; off + dsize <= size; off += dsize) {
		EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)(buf + off);
		uint64_t base = d->PhysicalStart, len = d->NumberOfPages * 4096;
		enum mem_type type = convert_type(d->Type);
		total++;
		if (n && r[n - 1].type == type && r[n - 1].base + r[n - 1].size == base) {
			r[n - 1].size += len;
			continue;
		}
		if (n == max) {
			dropped++;
			continue;
		}
		r[n].base = base;
		r[n].size = len;
		r[n].type = type;
		n++;
	}
	if (dropped)
		log_warn("keel: memory map: %lu descriptors in %lu runs; the last %lu runs do not fit keel's table "
			 "of %lu and are left out (RAM there is treated as device memory)",
			 (unsigned long)total, (unsigned long)(n + dropped), (unsigned long)dropped, (unsigned long)max);
	return (int)n;
}

static uint64_t alloc_runtime(EFI_MEMORY_TYPE type, size_t pages)
{
	EFI_PHYSICAL_ADDRESS a = 0;
	if (EFI_ERROR(bs->AllocatePages(AllocateAnyPages, type, pages, &a)))
		return 0;
	memset((void *)(uintptr_t)a, 0, pages * 4096);
	return a;
}

uint64_t efi_alloc_pages(size_t pages) { return alloc_runtime(EfiRuntimeServicesData, pages); }

/* keel's running image executes from these pages: firmware whose DXE no-execute policy covers
 * data types (PcdDxeNxMemoryProtectionPolicy) maps EfiRuntimeServicesData NX, so code gets the
 * code type, which survives ExitBootServices all the same. */
uint64_t efi_alloc_code_pages(size_t pages) { return alloc_runtime(EfiRuntimeServicesCode, pages); }

int efi_cpu_count(unsigned *total, unsigned *enabled)
{
	UINTN t = 1, e = 1;
	if (!mp || EFI_ERROR(mp->GetNumberOfProcessors(mp, &t, &e))) {
		*total = *enabled = 1;
		return -1;
	}
	*total = (unsigned)t;
	*enabled = (unsigned)e;
	return 0;
}


int efi_run_on_aps(void (*fn)(void *arg), void *arg)
{
	struct mp_call call = { fn, arg };
	if (!mp)
		return -1;
	EFI_STATUS s = mp->StartupAllAPs(mp, mp_call_trampoline, TRUE, 0, AP_TIMEOUT_US, &call, 0);
	if (s == EFI_NOT_STARTED)
		return 0; /* no enabled APs */
	if (EFI_ERROR(s)) {
		log_err("keel: StartupAllAPs failed: %s", status_name(s));
		return -1;
	}
	return 0;
}

unsigned efi_cpu_number(void)
{
	UINTN n = 0;
	if (mp && !EFI_ERROR(mp->WhoAmI(mp, &n)))
		return (unsigned)n;
	return 0;
}

/* Builds "<device path of keel's volume>/<file path node>/<end>" in pool memory. */
static EFI_DEVICE_PATH *file_device_path(const char *path)
{
	EFI_DEVICE_PATH *dev = 0;
	if (EFI_ERROR(bs->HandleProtocol(loaded->DeviceHandle, &device_path_guid, (void **)&dev)) || !dev)
		return 0;
	size_t dev_len = 0;
	for (EFI_DEVICE_PATH *n = dev; !(n->Type == END_DEVICE_PATH_TYPE && n->SubType == 0xFF);
	     n = (EFI_DEVICE_PATH *)((UINT8 *)n + (n->Length[0] | n->Length[1] << 8)))
		dev_len += n->Length[0] | n->Length[1] << 8;
	size_t plen = strlen(path), node_len = 4 + (plen + 1) * 2;
	UINT8 *buf;
	if (EFI_ERROR(bs->AllocatePool(EfiLoaderData, dev_len + node_len + 4, (void **)&buf)))
		return 0;
	memcpy(buf, dev, dev_len);
	UINT8 *node = buf + dev_len;
	node[0] = MEDIA_DEVICE_PATH;
	node[1] = MEDIA_FILEPATH_DP;
	node[2] = node_len & 0xFF;
	node[3] = node_len >> 8;
	ascii_to_ucs2((CHAR16 *)(node + 4), plen + 1, path);
	UINT8 *end = node + node_len;
	end[0] = END_DEVICE_PATH_TYPE;
	end[1] = 0xFF;
	end[2] = 4;
	end[3] = 0;
	return (EFI_DEVICE_PATH *)buf;
}

int efi_start_image(const char *path, const char *args)
{
	static CHAR16 wargs[1024];
	EFI_HANDLE child = 0;
	EFI_LOADED_IMAGE *cl;

	EFI_DEVICE_PATH *dp = file_device_path(path);
	if (!dp) {
		log_err("keel: next stage %s: cannot build a device path to keel's volume", path);
		return -1;
	}
	EFI_STATUS s = bs->LoadImage(FALSE, image, dp, 0, 0, &child);
	bs->FreePool(dp);
	if (EFI_ERROR(s)) {
		if (s == EFI_NOT_FOUND)
			log_err("keel: next stage %s: file not found on keel's volume", path);
		else
			log_err("keel: next stage %s: LoadImage failed: %s", path, status_name(s));
		return -1;
	}
	if (!EFI_ERROR(bs->HandleProtocol(child, &loaded_image_guid, (void **)&cl))) {
		size_t n = ascii_to_ucs2(wargs, 1024, args);
		cl->LoadOptions = n ? wargs : 0;
		cl->LoadOptionsSize = n ? (UINT32)((n + 1) * sizeof(CHAR16)) : 0;
	}
	log_info("keel: starting %s%s%s", path, args[0] ? " with options: " : "", args);
	s = bs->StartImage(child, 0, 0);
	log_info("keel: next stage %s returned %s", path, status_name(s));
	return EFI_ERROR(s) ? -1 : 0;
}

void efi_stall_us(uint64_t us) { bs->Stall(us); }
