#!/usr/bin/python3
"""mkseeds: writes the generated part of the fuzz targets' seed corpora.

    tests/fuzz/mkseeds.py            (from the repository root)

Each tests/fuzz/<target>/ holds small valid and invalid inputs; files named
gen-* are written here, deterministically; any other file (a regression input
of a fixed bug, crash-*) is kept as it is. Run it again after changing it and
commit the result.
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.abspath(__file__))


def target_dir(name):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("gen-"):
            os.unlink(os.path.join(d, f))
    return d


def put(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "gen-" + name), "wb") as f:
        f.write(data)


def picture(mode, w, h, seed):
    im = Image.new("RGB", (w, h), (seed * 40 % 256, 90, 200))
    dr = ImageDraw.Draw(im)
    dr.ellipse((1, 1, w - 2, h // 2), fill=(250, seed * 70 % 256, 10))
    dr.line((0, h - 1, w - 1, 0), fill=(0, 0, 0), width=2)
    return im.convert("L").convert("I") if mode == "I" else im.convert(mode)


def images():
    forms = {
        "jpeg": [("RGB", {}), ("L", {}), ("CMYK", {}), ("RGB", {"progressive": True}),
                 ("RGB", {"quality": 20, "subsampling": 2})],
        "png": [("RGB", {}), ("RGBA", {}), ("L", {}), ("P", {}), ("1", {}), ("LA", {}),
                ("I", {}), ("RGB", {"interlace": 1})],
        "webp": [("RGB", {}), ("RGBA", {}), ("RGB", {"lossless": True})],
        "bmp": [("RGB", {}), ("L", {}), ("P", {}), ("1", {}), ("RGBA", {})],
    }
    pil_name = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}
    for fmt, lst in forms.items():
        d = target_dir("image_" + fmt)
        for i, (mode, opts) in enumerate(lst):
            w, h = (17 + 5 * i, 11 + 3 * i)
            b = io.BytesIO()
            picture(mode, w, h, i).save(b, pil_name[fmt], **opts)
            data = b.getvalue()
            put(d, "%d-%s.%s" % (i, mode.replace(";", ""), fmt), data)
            if i < 2:
                put(d, "%d-truncated.%s" % (i, fmt), data[: len(data) * 2 // 3])
        put(d, "empty", b"")
        # A header declaring a huge size: refused before any pixel buffer.
        if fmt == "png":
            ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
            import zlib
            chunk = lambda t, p: struct.pack(">I", len(p)) + t + p + struct.pack(
                ">I", zlib.crc32(t + p) & 0xffffffff)
            put(d, "huge.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
        if fmt == "bmp":
            b = io.BytesIO()
            picture("P", 16, 8, 3).save(b, "BMP")
            raw = bytearray(b.getvalue())
            raw[30:34] = struct.pack("<I", 1)  # BI_RLE8: unsupported, not corrupt
            put(d, "rle8.bmp", bytes(raw))
    # Each format's file under another format's target: bad magic.
    b = io.BytesIO()
    picture("RGB", 8, 8, 1).save(b, "PNG")
    put(os.path.join(ROOT, "image_jpeg"), "png-as-jpeg", b.getvalue())


CONFIGS = [
    "{}",
    '{"docker": {}, "lightly": {}}',
    '{"enable_corruptness_check": true, "remove_exact_duplicates": true, "enable_training": false,'
    ' "pretagging": false, "pretagging_debug": false, "method": "coreset",'
    ' "stopping_condition": {"n_samples": 0.1, "min_distance": -1},'
    ' "scorer": "object-frequency", "scorer_config": {"frequency_penalty": 0.25, "min_score": 0.9},'
    ' "active_learning": {"task_name": "", "score_name": "uncertainty_margin"}}',
    '{"docker": {"method": "coral", "stopping_condition": {"n_samples": 20},'
    ' "active_learning": {"task_name": "my-classification-task", "score_name": "uncertainty_margin"}},'
    ' "lightly": {"loader": {"batch_size": 16}}}',
    '{"method": "active_learning", "active_learning": {"task_name": "t"}, "datapool": {"name": "pool-1"},'
    ' "corruptness_check": {"max_pixels": 1000000}, "seed": 4294967295}',
    '{"method": "random", "seed": 7, "embeddings": "my.csv", "normalize_embeddings": false,'
    ' "relevant_filenames_file": "keep.txt", "dump_dataset": true, "worker": {"x": 1}}',
    '{"method": "foo", "stopping_condition": {"n_samples": 2.5}, "seed": -1, "method": "random"}',
    '{"docker": {"enable_training": true, "selected_sequence_length": 3,'
    ' "object_level": {"task_name": "x"}}, "workerType": "FULL"}',
    '{"datapool": {"name": ".hidden"}, "stopping_condition": {"min_distance": -0.5}}',
    '[1, 2', '{"a": "\\ud800"}', '"just a string"',
    # V4 (SPEC 2.1, 4.8): Lightly's selection configs, valid and not
    '{"workerType": "FULL", "docker": {"useDatapool": true, "normalizeEmbeddings": false},'
    ' "lightly": {}, "selection": {"nSamples": 50, "strategies": ['
    '{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY",'
    ' "stopping_condition_minimum_distance": 0.2, "strength": 0.6}},'
    '{"input": {"type": "SCORES", "task": "det", "score": "uncertainty_entropy"},'
    ' "strategy": {"type": "WEIGHTS", "strength": -2, "stoppingConditionMaxSum": 4}}]}}',
    '{"selection": {"proportion_samples": 0.3, "auto_tasks": [], "strategies": ['
    '{"input": {"type": "METADATA", "key": "lightly.sharpness"},'
    ' "strategy": {"type": "THRESHOLD", "threshold": 20, "operation": "BIGGER_EQUAL"}},'
    '{"input": {"type": "METADATA", "key": "weather"},'
    ' "strategy": {"type": "BALANCE", "target": {"sunny": 0.5, "rainy": 0.2}}},'
    '{"input": {"type": "PREDICTIONS", "task": "cls", "name": "CLASS_DISTRIBUTION",'
    ' "categories": ["a", "b"]}, "strategy": {"type": "BALANCE", "distribution": "UNIFORM"}},'
    '{"input": {"type": "RANDOM", "random_seed": -3}, "strategy": {"type": "WEIGHTS"}}]}}',
    '{"selection": {"strategies": [{"input": {"type": "EMBEDDINGS", "tagName": "query-tag",'
    ' "datasetId": "0123456789abcdef01234567"}, "strategy": {"type": "SIMILARITY"}},'
    '{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "TYPICALITY",'
    ' "numNearestNeighbors": 30, "stoppingConditionMinimumTypicality": 0.5}}]}}',
    '{"docker": {"method": "coral", "crops": {"enableUpload": true}, "enableTraining": true},'
    ' "selection": {"nSamples": 0, "proportionSamples": 2, "lightlyPathRegex": "x", "strategies": ['
    '{"input": {"type": "SCORES"}, "strategy": {"type": "DIVERSITY", "strength": 1e10}},'
    '{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},'
    '{"input": {"type": "METADATA", "key": "k"}, "strategy": {"type": "BALANCE",'
    ' "distribution": "INPUT", "target": {"a": 0.9, "b": 0.9}}},'
    '{"input": {"type": "SCORES", "task": "t", "score": "s"}, "strategy": {"type": "WEIGHTS",'
    ' "targetRange": {"minSum": 1}}}]}}',
    '{"workerType": "FULL", "docker": {"use_datapool": true}}',
]


def configs():
    d = target_dir("config")
    for i, c in enumerate(CONFIGS):
        put(d, "%02d.json" % i, c)


def predictions():
    d = target_dir("predict")
    types = ["classification", "object-detection", "semantic-segmentation", "keypoint-detection"]
    tmp = tempfile.mkdtemp()
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "..", "tools", "mkdataset"),
                        "--out", tmp, "--n", "8", "--size", "16x16", "--predictions",
                        "--embeddings"], check=True, stdout=subprocess.DEVNULL)
        man = json.load(open(os.path.join(tmp, ".manifest.json")))
        for task, info in sorted(man["tasks"].items()):
            t = types.index(info["type"])
            pdir = os.path.join(tmp, ".lightly", "predictions", task)
            put(d, "%s-schema" % task, bytes([4, 0, 0]) + open(os.path.join(pdir, "schema.json"), "rb").read())
            for k, (img, pf) in enumerate(sorted(info["files"].items())[:3]):
                j = json.load(open(os.path.join(pdir, pf)))
                j["file_name"] = "img/a.jpg"
                for p in j["predictions"]:
                    p["category_id"] %= 3
                    if "probabilities" in p:
                        pr = p["probabilities"][:3]
                        s = sum(pr)
                        p["probabilities"] = [x / s for x in pr]
                put(d, "%s-%d" % (task, k), bytes([t, 16, 16]) + json.dumps(j).encode())
        emb = os.path.join(tmp, man["embeddings"]["file"])
        lines = open(emb, "rb").read().split(b"\n")
        e = target_dir("embed")
        put(e, "mkdataset.csv", b"\n".join(lines[:6]) + b"\n")
    finally:
        shutil.rmtree(tmp)
    # By hand: each type valid, RLE against the image size, keys twice, deep nesting.
    hand = [
        (0, 0, 0, '{"file_name": "img/a.jpg", "predictions": [{"category_id": 1, "probabilities": [0.2, 0.7, 0.1]}]}'),
        (0, 0, 0, '{"file_name": "img/a.jpg", "predictions": []}'),
        (1, 0, 0, '{"file_name": "img/a.jpg", "predictions": [{"category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.5, "probabilities": [0.1, 0.1, 0.8]}]}'),
        (2, 4, 2, '{"file_name": "img/a.jpg", "predictions": [{"category_id": 0, "segmentation": [1, 3, 4], "score": 0.9}]}'),
        (2, 4, 2, '{"file_name": "img/a.jpg", "predictions": [{"category_id": 0, "segmentation": [1, 3, 5], "score": 0.9}]}'),
        (3, 0, 0, '{"file_name": "img/a.jpg", "predictions": [{"category_id": 0, "keypoints": [1, 2, 0.5, 3, 4, 1e-3], "score": 1}]}'),
        (1, 0, 0, '{"file_name": "img/a.jpg", "file_name": "img/a.jpg", "predictions": []}'),
        (1, 0, 0, '{"file_name": "img/a.jpg", "predictions": [], "extra": ' + "[" * 70 + "]" * 70 + '}'),
        (0, 0, 0, '{"file_name": "img/b.jpg", "predictions": [{"category_id": 5}]}'),
        (4, 0, 0, '{"task_type": "object-detection", "categories": [{"id": 7, "name": "dog"}, {"id": 0, "name": "cat"}]}'),
        (4, 0, 0, '{"task_type": "classification", "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}'),
    ]
    for i, (m, w, h, t) in enumerate(hand):
        put(d, "hand-%02d" % i, bytes([m, w, h]) + t.encode())


def embeddings():
    e = os.path.join(ROOT, "embed")
    put(e, "small.csv", "filenames,embedding_0,embedding_1,labels\na.jpg,0.5,-1e3,0\nb/c.png,1,2,0\n")
    put(e, "crlf.csv", "filenames,embedding_0,labels\r\na.jpg,0.5,0\r\n")
    put(e, "nan.csv", "filenames,embedding_0,labels\na.jpg,nan,0\nb.jpg,inf,0\n")
    put(e, "dup.csv", "filenames,embedding_0,labels\na.jpg,1,0\na.jpg,2,0\n")
    put(e, "fields.csv", "filenames,embedding_0,embedding_1,labels\na.jpg,1,0\n")
    put(e, "header.csv", "filenames,embedding_1,labels\n")


# The routes of fuzz_web.c's table, in its order, each with bodies to start from.
D, W, C, S1, S2, R, T = ("d00000000000000000000001", "e00000000000000000000001",
                         "c00000000000000000000001", "5c0000000000000000000001",
                         "5c0000000000000000000002", "a00000000000000000000001",
                         "7a0000000000000000000001")
WEB = [
    ['{"name": "w2", "workerType": "FULL", "labels": ["gpu", "x"]}', '{"name": "w1"}', '{"name": ""}'],
    ['{"config": {"docker": {"method": "random"}, "lightly": {}}, "creator": "wizard"}',
     '{"config": {"docker": {"method": "foo"}}}'],
    ['{"config": {"workerType": "FULL", "docker": {"stopping_condition": {"n_samples": 0.5}}}}'],
    ['{"state": "BUSY"}', '{"state": "nope"}'],
    ['{"dockerVersion": "1.0", "datasetId": "%s", "scheduledId": "%s", "configId": "%s"}' % (D, S1, C),
     '{"dockerVersion": "1.0", "datasetId": "%s", "scheduledId": "%s", "configId": "%s"}' % (D, S2, C)],
    ['{"state": "EMBEDDING", "message": "step"}', '{"state": "COMPLETED"}', '{"state": "EMBEDDING", "progress": 0.5}'],
    ['{}', ''],
    ['[{"ts": 1, "level": "INFO", "group": "winnowd", "msg": "hello"}, {"ts": 2, "level": "ERROR", "group": "g", "msg": "x", "state": "FAILED"}]',
     '[{"seq": -1, "ts": 1, "level": "INFO", "msg": "m"}]'],
    ['{"fileName": "report.pdf", "type": "REPORT_PDF"}', '{"fileName": "log.txt", "type": "LOG"}'],
    ['{"name": "new dataset"}', '{"name": 3}'],
    ['{"type": "LOCAL", "purpose": "INPUT", "fullPath": "/"}', '{"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": "a/../b"}',
     '{"type": "S3", "purpose": "LIGHTLY", "fullPath": "s3://b/p", "s3Region": "eu-west-1", "s3AccessKeyId": "k",'
     ' "s3SecretAccessKey": "********"}', '{"type": "GCS", "purpose": "INPUT", "fullPath": "gs://b"}'],
    ['[{"fileName": "a.jpg"}, {"fileName": "z.png", "metaData": {"k": [1, 2]}}]', '[{"fileName": ""}]'],
    ['{"name": "sel", "prevTagId": "%s", "bitMaskData": "0x5", "totSize": 4, "creator": "USER_WORKER", "runId": "%s"}' % (T, R),
     '{"name": "initial-tag", "bitMaskData": "0xf", "totSize": 4}', '{"name": "t", "bitMaskData": "0x10", "totSize": 4}'],
    ['{"scoreType": "uncertainty_margin", "scores": [0.1, 0.2, 0.3, 0.4]}', '{"scoreType": "x y", "scores": []}'],
    ['{"fileNames": ["a.jpg", "b/c.png"]}', '{"fileNames": [1]}'],
    ['{"configId": "%s", "priority": "HIGH", "runsOn": ["gpu"]}' % C, '{"configId": "%s", "originScheduledId": "%s"}' % (C, S1)],
    ['{}'],
    ['{"state": "LOCKED"}', '{"state": "DONE"}'],
    ['{"state": "DONE"}', '{"state": "LOCKED"}'],
    ['{"type": "S3", "purpose": "INPUT", "fullPath": "s3://b/p", "s3Endpoint": "http://127.0.0.1:9", "s3Region": "us-east-1",'
     ' "s3AccessKeyId": "", "s3SecretAccessKey": ""}', '{"type": "LOCAL", "purpose": "INPUT", "fullPath": "", "s3Endpoint": null}'],
    ['{"progress": 0.25}', '{"progress": 2}'],
    ['{"fileName": "scores.csv", "type": "SCORES_CSV"}', '{"fileName": "log.txt", "type": "LOG"}'],
]


def web():
    d = target_dir("web")
    for i, bodies in enumerate(WEB):
        for k, b in enumerate(bodies):
            put(d, "%02d-%d" % (i, k), bytes([i]) + b.encode())


def main():
    images()
    configs()
    predictions()
    embeddings()
    web()


if __name__ == "__main__":
    main()
