"""Reading the PNG screenshots Chromium writes, for the recording tests'
checkers (standard library only)."""
import struct
import zlib


def read_png(path):
    """(width, height, channels, rows): rows as bytes of 8-bit samples.
    Only what Chromium writes: 8-bit grey, grey+alpha, RGB or RGBA, not
    interlaced."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if typ == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif typ == b"IDAT":
            idat.append(body)
        elif typ == b"IEND":
            break
    if not hdr:
        raise ValueError("no IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    chans = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or not chans or interlace:
        raise ValueError("PNG of depth %d, colour type %d, interlace %d: not decoded"
                         % (depth, ctype, interlace))
    raw = zlib.decompress(b"".join(idat))
    stride = w * chans
    if len(raw) < h * (stride + 1):
        raise ValueError("truncated image data")
    # For the Up filter (most of Chromium's rows), a bytewise add without
    # carries across bytes, on the whole row at once as one big integer.
    lo7 = int.from_bytes(b"\x7f" * stride, "big")
    hi1 = int.from_bytes(b"\x80" * stride, "big")
    rows, prev = [], bytes(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        if ft == 0:
            cur = bytes(line)
        elif ft == 2:
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            cur = (((a & lo7) + (b & lo7)) ^ ((a ^ b) & hi1)).to_bytes(stride, "big")
        else:
            cur = bytearray(line)
            for i in range(stride):
                left = cur[i - chans] if i >= chans else 0
                up = prev[i]
                if ft == 1:
                    cur[i] = (cur[i] + left) & 0xff
                elif ft == 3:
                    cur[i] = (cur[i] + ((left + up) >> 1)) & 0xff
                elif ft == 4:
                    ul = prev[i - chans] if i >= chans else 0
                    pa, pb, pc = abs(up - ul), abs(left - ul), abs(left + up - 2 * ul)
                    pred = left if pa <= pb and pa <= pc else up if pb <= pc else ul
                    cur[i] = (cur[i] + pred) & 0xff
                else:
                    raise ValueError("unknown PNG filter %d" % ft)
            cur = bytes(cur)
        rows.append(cur)
        prev = cur
    return w, h, chans, rows


def pixels(row, chans):
    """The row's pixels as (r, g, b)."""
    if chans >= 3:
        return zip(row[0::chans], row[1::chans], row[2::chans])
    return ((v, v, v) for v in row[0::chans])


def colour_count(img):
    """Distinct (r, g, b) colours of an image from read_png."""
    _, _, chans, rows = img
    colours = set()
    for row in rows:
        colours.update(pixels(row, chans))
    return len(colours)
