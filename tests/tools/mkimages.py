#!/usr/bin/python3
"""Writes the image fixtures of tests/unit/test_image.c into a folder.

Usage: /usr/bin/python3 mkimages.py OUTDIR

Everything is generated (deterministic: fixed seeds), nothing is checked in.
Valid forms are named ok_*, damaged ones bad_*, unsupported ones unsup_*.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

W, H = 640, 480


def lr(w=W, h=H, mode="RGB"):
    """Left half black, right half white."""
    a = np.zeros((h, w), np.uint8)
    a[:, w // 2:] = 255
    img = Image.fromarray(a, "L")
    return img if mode == "L" else img.convert(mode)


def solid(rgb, w=64, h=64, mode="RGB"):
    return Image.new(mode, (w, h), rgb)


def photo(w=W, h=H, seed=1):
    """Smooth gradients plus noise: compresses like a photo, unlike flat fills."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin(x / 37.0) * np.cos(y / 23.0)
    g = 128 + 100 * np.sin((x + y) / 51.0)
    b = 128 + 100 * np.cos(x / 19.0 - y / 41.0)
    a = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def save(img, name, **kw):
    bio = io.BytesIO()
    fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}[name.rsplit(".", 1)[1]]
    img.save(bio, fmt, **kw)
    return put(name, bio.getvalue())


def put(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    return data


def png_chunk(kind, payload):
    c = kind + payload
    return struct.pack(">I", len(payload)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)


def png_chunks(data):
    """(offset, length, type) of each chunk."""
    pos, out = 8, []
    while pos + 8 <= len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        out.append((pos, n, data[pos + 4:pos + 8]))
        pos += 12 + n
    return out


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]  # (x0, y0, dx, dy); Pillow cannot write interlaced PNG


def png_adam7(a):
    """An 8-bit RGB PNG, Adam7-interlaced, filter 0 on every row."""
    h, w, _ = a.shape
    raw = b""
    for x0, y0, dx, dy in ADAM7:
        sub = a[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def area_weights(side, t=32):
    """(t, side) matrix: the share of cell c that source pixel x covers."""
    m = np.zeros((t, side))
    for c in range(t):
        lo, hi = c * side / t, (c + 1) * side / t
        for x in range(int(np.floor(lo)), min(side, int(np.ceil(hi)))):
            m[c, x] = min(hi, x + 1) - max(lo, x)
    return m / m.sum(1, keepdims=True)


def ref_thumb(a, t=32):
    """The thumbnail image.c must produce for an RGB array, computed independently:
    the exact area average (fractional pixel coverage) onto a t x t grid."""
    h, w, _ = a.shape
    return np.einsum("yh,hwk,xw->yxk", area_weights(h, t), a.astype(np.float64),
                     area_weights(w, t))


def jpeg_sos_end(data):
    """Offset just after the first SOS segment: the start of entropy-coded data."""
    i = data.index(b"\xff\xda")
    n, = struct.unpack(">H", data[i + 2:i + 4])
    return i + 2 + n


def main():
    # JPEG, valid forms.
    save(solid((255, 0, 0)), "ok_red.jpg", quality=95)
    save(lr(), "ok_lr.jpg", quality=90)
    save(lr(), "ok_lr_prog.jpg", quality=90, progressive=True)
    save(lr(mode="L"), "ok_lr_grey.jpg", quality=90)
    save(solid((255, 0, 0), mode="RGB").convert("CMYK"), "ok_red_cmyk.jpg", quality=95)
    save(lr().convert("CMYK"), "ok_lr_cmyk.jpg", quality=90)
    # The same CMYK red without its Adobe marker: still inverted, as Pillow reads it.
    d = open(os.path.join(OUT, "ok_red_cmyk.jpg"), "rb").read()
    i = d.index(b"\xff\xee")
    n, = struct.unpack(">H", d[i + 2:i + 4])
    put("ok_red_cmyk_noadobe.jpg", d[:i] + d[i + 2 + n:])
    save(lr(37, 29), "ok_lr_small.jpg", quality=90)
    photo_jpg = save(photo(), "ok_photo.jpg", quality=85)
    save(photo(), "ok_photo_prog.jpg", quality=85, progressive=True)
    red_jpg = open(os.path.join(OUT, "ok_red.jpg"), "rb").read()
    put("ok_trailing.jpg", red_jpg + b"trailing garbage after EOI\xff\xd9\x00" * 4)
    # 64x64 JPEG = 4096 pixels, for the max_pixels boundary.

    # YCCK (Adobe transform 2). Pillow writes CMYK only, so the YCCK samples are made
    # here: the picture is inverted CMYK samples s (the photo) and a K ramp, whose RGB
    # is s * K / 255; libjpeg's CMYK->YCCK stores the JFIF YCbCr of 255 - s and K as
    # is. Pillow saves CMYK inverted (255 - value), so it is handed 255 - samples, and
    # the Adobe marker's transform byte then says YCCK.
    s_rgb = np.asarray(photo(), np.float64)
    k = np.tile(np.linspace(140, 255, W), (H, 1))
    r, g, b = (255 - s_rgb[..., c] for c in range(3))
    ycck = np.stack([0.299 * r + 0.587 * g + 0.114 * b,
                     -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128,
                     0.5 * r - 0.418687589 * g - 0.081312411 * b + 128, k], -1)
    bio = io.BytesIO()
    Image.fromarray(255 - np.clip(np.rint(ycck), 0, 255).astype(np.uint8), "CMYK").save(
        bio, "JPEG", quality=95)
    d = bytearray(bio.getvalue())
    i = d.index(b"\xff\xee")
    assert d[i + 4:i + 9] == b"Adobe" and d[i + 15] == 0
    d[i + 15] = 2
    ycck_jpg = put("ok_photo_ycck.jpg", bytes(d))
    put("photo_ycck_thumb.f32", ref_thumb(s_rgb * k[..., None] / 255).astype("<f4").tobytes())
    pil = Image.open(io.BytesIO(ycck_jpg))
    assert pil.mode == "CMYK" and pil.info.get("adobe_transform") == 2
    put("photo_ycck_pillow_thumb.f32", ref_thumb(np.asarray(pil.convert("RGB"))).astype("<f4").tobytes())
    put("bad_truncated_ycck.jpg", ycck_jpg[: len(ycck_jpg) // 2])
    # An ICC profile (one APP2 marker), and one too big for a marker (Pillow splits it
    # over several): metadata, the pixels are ok_photo.jpg's.
    from PIL import ImageCms
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    icc_jpg = save(photo(), "ok_photo_icc.jpg", quality=85, icc_profile=icc)
    big = icc + bytes(range(256)) * 400
    save(photo(), "ok_photo_icc_big.jpg", quality=85, icc_profile=big)
    assert Image.open(io.BytesIO(icc_jpg)).info["icc_profile"] == icc
    assert open(os.path.join(OUT, "ok_photo_icc_big.jpg"), "rb").read().count(b"ICC_PROFILE\0") >= 2
    put("photo_icc_pillow_thumb.f32",
        ref_thumb(np.asarray(Image.open(io.BytesIO(icc_jpg)).convert("RGB"))).astype("<f4").tobytes())

    # JPEG, damaged.
    put("bad_truncated.jpg", photo_jpg[: len(photo_jpg) // 2])
    rng = np.random.default_rng(7)
    d = bytearray(photo_jpg)
    s = jpeg_sos_end(photo_jpg) + 2000
    junk = rng.integers(0, 0xFF, 600, dtype=np.uint8).tobytes()  # no 0xFF: no markers
    d[s:s + len(junk)] = junk
    put("bad_entropy.jpg", bytes(d))
    d = bytearray(red_jpg)
    i = d.index(b"\xff\xc0")
    d[i + 5:i + 9] = struct.pack(">HH", 50000, 50000)
    put("bad_huge.jpg", bytes(d))

    # PNG, valid forms.
    red_png = save(solid((255, 0, 0)), "ok_red.png")
    save(lr(), "ok_lr.png")
    save(lr().convert("P", palette=Image.ADAPTIVE, colors=4), "ok_lr_palette.png")
    g16 = (np.asarray(lr(mode="L"), np.uint16) * 257).astype(np.uint16)
    save(Image.fromarray(g16, "I;16"), "ok_lr_grey16.png")
    rgba = solid((255, 0, 0, 0), mode="RGBA")  # fully transparent: colour still counts
    save(rgba, "ok_red_rgba.png")
    la = lr(mode="L").convert("LA")
    la.putalpha(77)
    save(la, "ok_lr_la.png")
    put("ok_lr_interlaced.png", png_adam7(np.asarray(lr())))
    put("ok_lr_small_interlaced.png", png_adam7(np.asarray(lr(37, 29))))
    put("ok_lr_tiny_interlaced.png", png_adam7(np.asarray(lr(4, 2))))
    save(lr(mode="1"), "ok_lr_1bit.png")
    put("ok_trailing.png", red_png + b"bytes after IEND")
    # An ancillary chunk with a bad CRC (judgement call: not corrupt).
    ch = png_chunks(red_png)
    text = bytearray(png_chunk(b"tEXt", b"Comment\x00hello"))
    text[-1] ^= 0xFF
    idat_at = [c for c in ch if c[2] == b"IDAT"][0][0]
    put("ok_bad_text_crc.png", red_png[:idat_at] + bytes(text) + red_png[idat_at:])

    # PNG, damaged.
    lr_png = open(os.path.join(OUT, "ok_lr.png"), "rb").read()
    put("bad_truncated.png", lr_png[: len(lr_png) // 2])
    d = bytearray(lr_png)
    pos, n, _ = [c for c in png_chunks(lr_png) if c[2] == b"IDAT"][0]
    d[pos + 8 + n] ^= 0x55  # the CRC's first byte
    put("bad_idat_crc.png", bytes(d))
    d = bytearray(lr_png)
    d[29] ^= 0x55  # IHDR's CRC
    put("bad_ihdr_crc.png", bytes(d))
    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
    put("bad_huge.png", red_png[:8] + png_chunk(b"IHDR", ihdr) + red_png[33:])
    ihdr = struct.pack(">IIBBBBB", 0, 64, 8, 2, 0, 0, 0)
    put("bad_zero.png", red_png[:8] + png_chunk(b"IHDR", ihdr) + red_png[33:])
    # Valid CRCs, but the zlib stream holds more rows than IHDR says.
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 64 for _ in range(80))
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    put("bad_extra_data.png", red_png[:8] + png_chunk(b"IHDR", ihdr) +
        png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))
    # ... and fewer.
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 64 for _ in range(40))
    put("bad_short_data.png", red_png[:8] + png_chunk(b"IHDR", ihdr) +
        png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))

    # WebP, valid forms.
    save(solid((255, 0, 0)), "ok_red_lossy.webp", quality=90)
    save(lr(), "ok_lr_lossless.webp", lossless=True)
    save(solid((255, 0, 0, 128), mode="RGBA"), "ok_red_alpha.webp", quality=90)
    save(lr(200, 100), "ok_lr_lossy.webp", quality=90)
    frames = [solid((255, 0, 0)), solid((0, 0, 255))]
    save(frames[0], "ok_anim.webp", save_all=True, append_images=frames[1:], duration=100,
         loop=0, lossless=True)
    photo_webp = save(photo(), "ok_photo.webp", quality=80)
    save(photo(), "ok_photo.png")
    put("ok_photo_interlaced.png", png_adam7(np.asarray(photo())))
    put("ok_photo_odd_interlaced.png", png_adam7(np.asarray(photo(97, 40))))
    save(photo(97, 40), "ok_photo_odd.png")
    for name, img in (("photo", photo()), ("photo_odd", photo(97, 40))):
        put(name + "_thumb.f32", ref_thumb(np.asarray(img)).astype("<f4").tobytes())

    # WebP, damaged.
    put("bad_truncated.webp", photo_webp[: len(photo_webp) // 2])
    rng = np.random.default_rng(9)
    garbage = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    put("bad_garbage.webp", b"RIFF" + struct.pack("<I", 4 + len(garbage)) + b"WEBP" + garbage)
    vp8x = struct.pack("<I", 0) + (50000 - 1).to_bytes(3, "little") + (50000 - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    put("bad_huge.webp", b"RIFF" + struct.pack("<I", len(body)) + body)
    anim = open(os.path.join(OUT, "ok_anim.webp"), "rb").read()
    put("bad_truncated_anim.webp", anim[: len(anim) - 20])

    # BMP, valid forms.
    lr_bmp = save(lr(), "ok_lr24.bmp")
    save(solid((255, 0, 0)).convert("P"), "ok_red8.bmp")
    save(lr(37, 29), "ok_lr_small.bmp")  # rows padded to 4 bytes

    # BMP, damaged or unsupported.
    put("bad_truncated.bmp", lr_bmp[: len(lr_bmp) - 1000])
    # 8-bit RLE (BI_RLE8): a valid file the decoder cannot read.
    w, h = 4, 2
    pal = b"".join(struct.pack("<BBBB", i, i, i, 0) for i in range(256))
    rle = bytes([4, 1, 0, 0, 4, 2, 0, 1])  # run of 4 of colour 1, EOL, run of 4, end
    off = 14 + 40 + len(pal)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 1, len(rle), 2835, 2835, 256, 0)
    put("unsup_rle8.bmp", b"BM" + struct.pack("<IHHI", off + len(rle), 0, 0, off) + dib + pal + rle)
    dib = struct.pack("<IiiHHIIiiII", 40, 50000, 50000, 1, 24, 0, 0, 2835, 2835, 0, 0)
    put("bad_huge.bmp", b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + dib)

    put("bad_empty.jpg", b"")

    # Valid JPEG forms this libjpeg cannot decode: 12-bit (SOF1 with P=12), lossless (SOF3).
    d = bytearray(red_jpg)
    i = d.index(b"\xff\xc0")
    d[i + 1], d[i + 4] = 0xC1, 12
    put("unsup_12bit.jpg", bytes(d))
    d[i + 1], d[i + 4] = 0xC3, 8
    put("unsup_lossless.jpg", bytes(d))


if __name__ == "__main__":
    OUT = sys.argv[1] if len(sys.argv) > 1 else "."
    main()
