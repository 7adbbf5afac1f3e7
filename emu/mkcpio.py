#!/usr/bin/env python3
"""Packs a directory into a gzip'd newc cpio archive for the kernel's initramfs.

Everything is owned by root and the mtimes are zero, so the archive depends only on the
files' contents and modes; /dev/console is added because init needs it before devtmpfs.
"""
import gzip
import os
import stat
import sys


def header(ino, mode, nlink, size, rdev_major, rdev_minor, name):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev_major, rdev_minor, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields) + name + b"\0"


def pad(n):
    return b"\0" * ((4 - n % 4) % 4)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mkcpio.py DIR OUT.gz")
    root, out = sys.argv[1], sys.argv[2]
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            path = os.path.join(dirpath, name)
            entries.append(os.path.relpath(path, root))
    with gzip.GzipFile(out, "wb", mtime=0) as z:
        ino = 1
        if not os.path.lexists(os.path.join(root, "dev")):
            z.write(record(ino, stat.S_IFDIR | 0o755, b"dev", b"")[0])
            ino += 1
        dev_console = header(ino, stat.S_IFCHR | 0o600, 1, 0, 5, 1, b"dev/console")
        z.write(dev_console + pad(len(dev_console)))
        ino += 1
        for rel in entries:
            path = os.path.join(root, rel)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                data = os.readlink(path).encode()
                mode = stat.S_IFLNK | 0o777
            elif stat.S_ISDIR(st.st_mode):
                data, mode = b"", stat.S_IFDIR | (st.st_mode & 0o7777)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    data = f.read()
                mode = stat.S_IFREG | (st.st_mode & 0o7777)
            else:
                sys.exit(f"mkcpio.py: {path}: unsupported file type")
            blob, _ = record(ino, mode, rel.encode(), data)
            z.write(blob)
            ino += 1
        trailer = header(0, 0, 1, 0, 0, 0, b"TRAILER!!!")
        z.write(trailer + pad(len(trailer)))


def record(ino, mode, name, data):
    nlink = 2 if stat.S_ISDIR(mode) else 1
    h = header(ino, mode, nlink, len(data), 0, 0, name)
    return h + pad(len(h)) + data + pad(len(data)), ino


if __name__ == "__main__":
    main()
