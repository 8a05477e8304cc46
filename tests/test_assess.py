"""Synthetic-media assessment: C2PA provenance (signed here with a test CA), generator metadata,
the Stable Diffusion watermark, error-level hints, and malformed input."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from haechi import Haechi
from haechi.assess.detectors.watermark import SD_V1, _decoder_class
from haechi.assess.run import AssessOptions, assess_ref
from haechi.demo.samples import scene
from haechi.sources import MediaRef

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _jpeg(im: Image.Image, quality: int = 92, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


def _signed(image: bytes, source_type: str = AI) -> bytes:
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Haechi tests")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GenAI Test Signer"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Haechi tests")])

    def build(subject: x509.Name, pub: object, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(pub)  # type: ignore[arg-type]
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                          crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
        if not ca:
            b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                 .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                 .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        return b.sign(ca_key, hashes.SHA256())

    chain = (build(name, key.public_key(), False).public_bytes(serialization.Encoding.PEM)
             + build(ca_name, ca_key.public_key(), True).public_bytes(serialization.Encoding.PEM))
    pkey = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=pkey, ta_url=None))
    manifest = {"claim_generator_info": [{"name": "TestGen", "version": "1.0"}], "title": "gen.jpg",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": source_type}]}}]}
    out = io.BytesIO()
    c2pa.Builder(manifest).sign(signer, "image/jpeg", io.BytesIO(image), out)
    return out.getvalue()


def _assess(data: bytes, name: str = "x.jpg", explain: Path | None = None) -> dict:  # type: ignore[type-arg]
    return assess_ref(MediaRef(path=name, data=data), AssessOptions(10**8, 10**9, str(explain) if explain else None))


def test_signed_c2pa_generative_claim_is_synthetic() -> None:
    res = _assess(_signed(_jpeg(scene(1))))
    assert res["verdict"] == "synthetic" and res["score"] >= 0.99
    (reason,) = [r for r in res["reasons"] if r["kind"] == "provenance"]
    assert "GenAI Test Signer" in reason["detail"] and "generative AI" in reason["detail"]
    data = res["detectors"]["c2pa"]["data"]
    assert data["signature_valid"] and not data["trusted_signer"] and data["digital_source_type"] == \
        "trainedAlgorithmicMedia"


def test_tampered_and_malformed_c2pa() -> None:
    signed = _signed(_jpeg(scene(2)))
    # change image data after signing: the claim no longer validates, so it is not hard evidence
    tail = len(signed) - 400
    tampered = signed[:tail] + bytes(b ^ 0x55 for b in signed[tail : tail + 40]) + signed[tail + 40 :]
    res = _assess(tampered)
    assert res["verdict"] != "synthetic", res
    # garbage inside the manifest box: reported as a detector error, the assessment goes on
    i = signed.find(b"c2pa")
    broken = signed[: i + 20] + b"\x00\xff" * 200 + signed[i + 420 :]
    res = _assess(broken)
    assert res["verdict"] is not None and res["error"] is None
    assert res["detectors"]["c2pa"]["status"] in ("error", "ok")


def test_generator_metadata_png_and_exif() -> None:
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "a photo of a woman, Steps: 30, Sampler: DPM++ 2M, Seed: 1234, Model: sdxl")
    buf = io.BytesIO()
    scene(3).save(buf, "PNG", pnginfo=meta)
    res = _assess(buf.getvalue(), "gen.png")
    assert res["verdict"] == "likely_synthetic" and res["reasons"][0]["kind"] == "generator_metadata"
    assert "AUTOMATIC1111" in res["reasons"][0]["detail"]
    exif = Image.Exif()
    exif[0x0131] = "FaceFusion 3.1.0"
    res = _assess(_jpeg(scene(4), exif=exif.tobytes()))
    assert res["verdict"] == "likely_synthetic" and "FaceFusion" in res["reasons"][0]["detail"]
    comfy = PngImagePlugin.PngInfo()
    comfy.add_text("prompt", json.dumps({"3": {"class_type": "KSampler"}}))
    comfy.add_text("workflow", "{}")
    buf = io.BytesIO()
    scene(5).save(buf, "PNG", pnginfo=comfy)
    assert "ComfyUI" in _assess(buf.getvalue(), "c.png")["reasons"][0]["detail"]


def test_stable_diffusion_watermark_is_synthetic() -> None:
    _decoder_class()  # registers the torch-free stub
    from imwatermark import WatermarkEncoder

    bgr = np.ascontiguousarray(np.asarray(scene(6, (512, 512)))[:, :, ::-1])
    enc = WatermarkEncoder()
    enc.set_watermark("bytes", SD_V1)
    marked = enc.encode(bgr, "dwtDct")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(marked[:, :, ::-1])).save(buf, "PNG")
    res = _assess(buf.getvalue(), "sd.png")
    assert res["verdict"] == "synthetic" and res["reasons"][0]["kind"] == "watermark"
    plain = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(plain, "PNG")
    assert _assess(plain.getvalue(), "plain.png")["detectors"]["invisible_watermark"]["reasons"] == []


def test_plain_photo_is_never_called_real(tmp_path: Path) -> None:
    res = _assess(_jpeg(scene(7)), explain=tmp_path / "explain")
    assert res["verdict"] == "no_evidence_found" and res["score"] < 0.3
    assert set(res["detectors"]) == {"c2pa", "metadata", "invisible_watermark", "face_manipulation", "error_level",
                                     "copy_move"}
    assert res["detectors"]["face_manipulation"]["status"] == "not_applicable"  # no face in a generated scene
    assert Path(res["detectors"]["error_level"]["data"]["heatmap"]).exists()


def test_error_level_flags_a_pasted_region(tmp_path: Path) -> None:
    base = scene(8, (640, 480))
    first = Image.open(io.BytesIO(_jpeg(base, quality=60))).convert("RGB")
    patch = scene(9, (160, 120))
    first.paste(patch, (300, 200))  # pasted after the last save: never compressed with the rest
    res = _assess(_jpeg(first, quality=60), explain=tmp_path)
    ela = res["detectors"]["error_level"]
    assert any(r["kind"] == "error_level" for r in res["reasons"]), ela
    x, y, w, h = ela["data"]["hot_box"]
    assert x <= 320 and x + w >= 440 and y <= 220 and y + h >= 300
    assert res["verdict"] in ("no_evidence_found", "inconclusive")  # a weak hint is never a verdict


def test_corrupt_files_and_cli(tmp_path: Path) -> None:
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    (tmp_path / "ok.jpg").write_bytes(_jpeg(scene(10)))
    (tmp_path / "gen.jpg").write_bytes(_signed(_jpeg(scene(11))))
    with Haechi(home=tmp_path / "home", workers=1) as h:
        rows = {Path(r["path"]).name: r for r in h.assess([tmp_path])}
        assert "junk.jpg" in rows["junk.jpg"]["error"] and rows["junk.jpg"]["verdict"] is None
        assert rows["ok.jpg"]["verdict"] == "no_evidence_found"
        assert rows["gen.jpg"]["verdict"] == "synthetic"
        h.create_bank("b")
        (scanned,) = list(h.scan([tmp_path / "gen.jpg"], assess=True))
        assert scanned["assessment"]["verdict"] == "synthetic"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda k: k.isprintable() and "\x00" not in k),
                       st.text(max_size=3000), max_size=5),
       st.binary(max_size=2000))
def test_fuzz_metadata_parsers_never_crash(chunks: dict[str, str], junk: bytes) -> None:
    meta = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        with contextlib.suppress(ValueError, UnicodeEncodeError):
            meta.add_text(k[:79], v)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buf, "PNG", pnginfo=meta)
    for data in (buf.getvalue(), buf.getvalue() + junk, junk):
        res = _assess(data, "f.png")
        assert res["error"] is not None or res["verdict"] in (
            "synthetic", "likely_synthetic", "inconclusive", "no_evidence_found")


def test_copy_move_flags_a_cloned_patch(tmp_path: Path) -> None:
    base = np.asarray(scene(21, (640, 480))).copy()
    rng = np.random.default_rng(3)
    base[40:160, 40:200] = np.clip(base[40:160, 40:200] + rng.normal(0, 40, (120, 160, 3)), 0, 255)  # texture
    clean = _assess(_jpeg(Image.fromarray(base), quality=90))
    assert not any(r["kind"] == "copy_move" for r in clean["reasons"]), clean["detectors"]["copy_move"]
    forged = base.copy()
    forged[300:420, 420:580] = base[40:160, 40:200]  # the textured patch cloned elsewhere
    res = _assess(_jpeg(Image.fromarray(forged), quality=85), explain=tmp_path)
    cm = res["detectors"]["copy_move"]
    assert any(r["kind"] == "copy_move" for r in res["reasons"]), cm
    assert abs(cm["data"]["shift"][0] - 380) <= 12 and abs(cm["data"]["shift"][1] - 260) <= 12
    assert Path(cm["data"]["explain"]).exists()
    assert res["verdict"] in ("no_evidence_found", "inconclusive")  # a weak hint is never a verdict


def test_self_blend_changes_only_the_face() -> None:
    from haechi.assess.sbi import CONTEXT, FaceContext, self_blend

    rng = np.random.default_rng(0)
    img = np.asarray(scene(5, (CONTEXT, CONTEXT))).copy()
    ring = np.array([[128 + 50 * np.cos(a), 128 + 60 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 48)], np.float32)
    inner = (ring - 128) * 0.7 + 128
    for _ in range(10):
        real, fake = self_blend(FaceContext(img, ring, inner, [0, 0, 1, 1]), rng)
        diff = np.abs(real.astype(int) - fake.astype(int)).max(axis=2)
        assert diff[:20].max() == 0 and diff[-20:].max() == 0  # far outside the hull: the real pixels
        assert diff[118:138, 118:138].mean() > 0  # inside: the blended source


def test_learned_detector_scores_blended_faces_above_real_ones() -> None:
    """The committed ONNX model on faces it never saw in training (the test split)."""
    import pytest

    from haechi.assess.detectors.face_blend import _model
    from haechi.assess.sbi import face_contexts, self_blend, split_of
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "faces_deepface").is_dir():
        pytest.skip("needs ../shared/data")
    model = _model()
    assert model is not None, "haechi/assess/models/sbi.onnx is committed"
    rng = np.random.default_rng(11)
    real_p, fake_p = [], []
    files = sorted(p for p in (SHARED_DATA / "faces_deepface").iterdir() if p.suffix == ".jpg")
    for f in [p for p in files if split_of(f"faces_deepface/{p.name}") == "test"][:8]:
        for face in face_contexts(np.asarray(Image.open(f).convert("RGB")))[:1]:
            real, fake = self_blend(face, rng)
            for arr, out in ((real, real_p), (fake, fake_p)):
                canvas = Image.fromarray(arr)
                res = _assess(_jpeg(canvas, quality=90), f.name)
                det = res["detectors"]["face_manipulation"]
                if det["status"] == "ok":
                    out.append(det["data"]["probability"])
    assert len(real_p) >= 4 and len(real_p) == len(fake_p)
    wins = sum(f > r for r, f in zip(real_p, fake_p, strict=True))
    assert wins >= 0.75 * len(real_p) and np.mean(fake_p) > np.mean(real_p) + 0.1, (real_p, fake_p)


def test_learned_detector_scores_held_out_face_swaps_above_their_originals() -> None:
    """Issue #20 part 6: the committed network was trained with OpenCV face swaps
    (``haechi.demo.faceswap``) among its fakes, so on photos it never saw (the test split) the
    swapped face should score above the same photo unswapped. The network before (self-blends on
    68-point crops only) won 7 of these 14 pairs, a coin toss; the retrained one wins 12."""
    import csv

    from haechi.assess.detectors.face_blend import _face_scores, _model
    from haechi.assess.sbi import split_of
    from haechi.demo.faceswap import swap_detected
    from haechi.errors import InputError
    from haechi.signals.blazeface import box_iou
    from haechi.signals.faces import engine
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "faces_deepface").is_dir():
        pytest.skip("needs ../shared/data")
    model = _model()
    assert model is not None, "haechi/assess/models/sbi.onnx is committed"
    eng = engine()
    photos = []  # (identity, photo, its face) for single-person photos of the test split
    for labels in sorted(SHARED_DATA.glob("faces_*/labels.csv")):
        with labels.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row["identity"].startswith(("MULTI", "NOFACE")) or \
                        split_of(f"{labels.parent.name}/{row['file']}") != "test":
                    continue
                rgb = np.asarray(Image.open(labels.parent / row["file"]).convert("RGB"))
                faces = eng.detect(rgb)
                if faces:
                    photos.append((row["identity"], rgb, faces[0]))

    def score(rgb: np.ndarray, box: list[int]) -> float | None:
        near = [p for b, p in _face_scores(model, rgb) if box_iou(b, box) > 0.5]
        return max(near) if near else None

    wins, pairs = 0, 0
    for i, (ident, rgb, face) in enumerate(photos):
        # the source: the next photo (cyclically) of someone else
        src = next(photos[k % len(photos)] for k in range(i + 1, i + len(photos))
                   if photos[k % len(photos)][0] != ident)
        try:
            swap = swap_detected(eng, src[1], src[2], rgb, face)
        except InputError:
            continue
        real, fake = score(rgb, face.box()), score(swap.rgb, face.box())
        if real is not None and fake is not None:
            pairs += 1
            wins += fake > real
    assert pairs >= 10, pairs
    assert wins >= 0.7 * pairs, (wins, pairs)


def test_learned_detector_on_video_frames(tmp_path: Path) -> None:
    import av
    import pytest

    from tests.conftest import SHARED_DATA

    photo = SHARED_DATA / "faces_deepface"
    if not photo.is_dir():
        pytest.skip("needs ../shared/data")
    face = Image.open(sorted(photo.glob("*.jpg"))[0]).convert("RGB").resize((320, 320))
    out = tmp_path / "face.mp4"
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 320, 320, "yuv420p"
        for i in range(15):
            frame = np.roll(np.asarray(face), i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    res = _assess(out.read_bytes(), "face.mp4")
    det = res["detectors"]["face_manipulation"]
    assert det["status"] == "ok", det
    assert len(det["data"]["frames"]) >= 2 and 0.0 <= det["data"]["probability"] <= 1.0


def test_face_crops_use_only_the_licence_clean_landmark_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #20 part 5: dlib's 68-point model is trained on iBUG 300-W (no commercial use); the
    face crops and the SBI hull come from the 5-point model. The hull is a face-shaped ellipse
    that holds the eyes and nose, the inner one inside it."""
    import cv2
    import dlib

    import haechi.signals.faces as sf
    from haechi.assess.sbi import CONTEXT, face_contexts
    from tests.conftest import SHARED_DATA

    photo = SHARED_DATA / "faces_deepface" / "deepface_id01_img2.jpg"
    if not photo.is_file():
        pytest.skip("needs ../shared/data")
    opened: list[str] = []
    real_predictor = dlib.shape_predictor

    def recording(path: str) -> object:
        opened.append(Path(path).name)
        return real_predictor(path)

    monkeypatch.setattr(dlib, "shape_predictor", recording)
    monkeypatch.setattr(sf, "_engine", None)  # a fresh engine, loaded under the recorder
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    (ctx, *_) = face_contexts(rgb)
    assert opened and set(opened) == {"shape_predictor_5_face_landmarks.dat"}, opened
    hull = cv2.convexHull(ctx.hull.astype(np.float32))
    area = cv2.contourArea(hull)
    assert 0.08 * CONTEXT**2 < area < 0.4 * CONTEXT**2  # the face is about the middle half of the context
    assert all(cv2.pointPolygonTest(hull, (float(x), float(y)), True) >= -1.0 for x, y in ctx.inner)

