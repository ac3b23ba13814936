# A guest that dirties memory at a rate proportional to the CPU time it gets (no OS image needed).
# Multiboot v1, 32-bit protected mode, flat segments already set up by the loader (QEMU -kernel).
# Build: as --32 --defsym SPIN_ITERATIONS=N -o dirty.o dirty.S && ld -m elf_i386 -Ttext 0x100000 -o dirty.elf dirty.o
# Each pass increments one dword in every 4 KiB page of the working set and spins SPIN_ITERATIONS
# after each page, so auto-converge's vCPU throttle slows the dirtying exactly as it would a real
# workload. One character goes to COM1 per 4 MiB dirtied: the serial log shows where the guest runs.

.ifndef SPIN_ITERATIONS
.set SPIN_ITERATIONS, 4000
.endif
.set MB_MAGIC, 0x1BADB002
.set MB_FLAGS, 0
.set WORKING_SET_START, 0x01000000      # 16 MiB
.set WORKING_SET_END, 0x03000000        # 48 MiB: a 32 MiB working set inside a 128 MiB guest
.set PAGE_BYTES, 4096
.set PAGES_PER_MARK, 1024               # 4 MiB
.set COM1, 0x3F8

.text
.globl _start
.align 4
multiboot_header:
  .long MB_MAGIC
  .long MB_FLAGS
  .long -(MB_MAGIC + MB_FLAGS)

_start:
  cli
  mov $0x00200000, %esp                 # a stack below the working set, above the kernel
  mov $PAGES_PER_MARK, %ebx
pass:
  mov $WORKING_SET_START, %edi
page:
  incl (%edi)
  mov $SPIN_ITERATIONS, %ecx
spin:
  loop spin
  dec %ebx
  jnz next_page
  mov $PAGES_PER_MARK, %ebx
  mov $COM1, %dx
  mov $'.', %al
  outb %al, %dx
next_page:
  add $PAGE_BYTES, %edi
  cmp $WORKING_SET_END, %edi
  jb page
  jmp pass
