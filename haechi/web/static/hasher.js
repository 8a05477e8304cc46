// Haechi in-browser hasher: PDQ, MD5 and SHA-256 of a file, computed on the victim's own
// device so that only hashes ever leave it. PDQ follows Meta's reference algorithm
// (pdqhashing.cpp): Rec.601 luma, two X/Y passes of Jarosz box filters with window
// ceil(dim/128), decimation to 64x64, 16x16 DCT (coefficients 1..16), threshold at the
// median (the 128th smallest), quality from the 64x64 gradient sum. The hex form is the
// reference's: 16-bit words printed from word 15 down to word 0.
// Written for Haechi (Apache-2.0); tests/test_browser.py measures its agreement with the
// server's pdqhash (Meta's C++) on the same images.
"use strict";

(function (global) {
  const MAX_SIDE = 1024; // drawn no larger than this (the server also hashes reduced JPEGs)

  function box1D(input, output, start, length, stride, fullWindow) {
    const half = Math.floor((fullWindow + 2) / 2);
    const phase1 = half - 1, phase2 = fullWindow - half + 1, phase3 = length - fullWindow, phase4 = half - 1;
    let li = start, ri = start, oi = start, sum = 0, count = 0;
    for (let i = 0; i < phase1; i++) { sum += input[ri]; count++; ri += stride; }
    for (let i = 0; i < phase2; i++) { sum += input[ri]; count++; output[oi] = sum / count; ri += stride; oi += stride; }
    for (let i = 0; i < phase3; i++) {
      sum += input[ri]; sum -= input[li]; output[oi] = sum / count; li += stride; ri += stride; oi += stride;
    }
    for (let i = 0; i < phase4; i++) { sum -= input[li]; count--; output[oi] = sum / count; li += stride; oi += stride; }
  }

  function windowSize(oldDim, newDim) { return Math.floor((oldDim + 2 * newDim - 1) / (2 * newDim)); }

  function pdqFromLuma(luma, rows, cols) {
    const tmp = new Float32Array(rows * cols);
    const wRows = windowSize(cols, 64), wCols = windowSize(rows, 64);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < rows; i++) box1D(luma, tmp, i * cols, cols, 1, wRows);
      for (let j = 0; j < cols; j++) box1D(tmp, luma, j, rows, cols, wCols);
    }
    const b64 = new Float64Array(64 * 64);
    for (let i = 0; i < 64; i++) {
      const ini = Math.floor(((i + 0.5) * rows) / 64);
      for (let j = 0; j < 64; j++) {
        const inj = Math.floor(((j + 0.5) * cols) / 64);
        b64[i * 64 + j] = luma[ini * cols + inj];
      }
    }
    let gradient = 0;
    for (let i = 0; i < 63; i++) for (let j = 0; j < 64; j++)
      gradient += Math.abs(Math.trunc(((b64[i * 64 + j] - b64[(i + 1) * 64 + j]) * 100) / 255));
    for (let i = 0; i < 64; i++) for (let j = 0; j < 63; j++)
      gradient += Math.abs(Math.trunc(((b64[i * 64 + j] - b64[i * 64 + j + 1]) * 100) / 255));
    const quality = Math.min(100, Math.floor(gradient / 90));
    const D = new Float64Array(16 * 64), scale = Math.sqrt(2.0 / 64.0);
    for (let i = 0; i < 16; i++) for (let j = 0; j < 64; j++)
      D[i * 64 + j] = scale * Math.cos((Math.PI / 2 / 64.0) * (i + 1) * (2 * j + 1));
    const T = new Float64Array(16 * 64);
    for (let i = 0; i < 16; i++) for (let j = 0; j < 64; j++) {
      let s = 0;
      for (let k = 0; k < 64; k++) s += D[i * 64 + k] * b64[k * 64 + j];
      T[i * 64 + j] = s;
    }
    const B = new Float64Array(256);
    for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) {
      let s = 0;
      for (let k = 0; k < 64; k++) s += T[i * 64 + k] * D[j * 64 + k];
      B[i * 16 + j] = s;
    }
    const median = Float64Array.from(B).sort()[127];
    const words = new Uint16Array(16);
    for (let k = 0; k < 256; k++) if (B[k] > median) words[k >> 4] |= 1 << (k & 15);
    let hex = "";
    for (let w = 15; w >= 0; w--) hex += words[w].toString(16).padStart(4, "0");
    return { pdq: hex, quality: quality };
  }

  function lumaOf(source, width, height) {
    const s = Math.min(1, MAX_SIDE / Math.max(width, height));
    const w = Math.max(1, Math.round(width * s)), h = Math.max(1, Math.round(height * s));
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(source, 0, 0, w, h);
    const px = ctx.getImageData(0, 0, w, h).data;
    const luma = new Float32Array(w * h);
    for (let i = 0, p = 0; i < luma.length; i++, p += 4) luma[i] = 0.299 * px[p] + 0.587 * px[p + 1] + 0.114 * px[p + 2];
    return { luma: luma, rows: h, cols: w };
  }

  // -- MD5 (RFC 1321), for exchange with lists that still carry MD5 ------------------------
  const K = new Int32Array(64), S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;

  function md5(bytes) {
    const n = bytes.length, padded = new Uint8Array((((n + 8) >> 6) + 1) * 64);
    padded.set(bytes); padded[n] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, (n * 8) >>> 0, true);
    view.setUint32(padded.length - 4, Math.floor(n / 536870912), true);
    let a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
    const M = new Int32Array(16);
    for (let off = 0; off < padded.length; off += 64) {
      for (let i = 0; i < 16; i++) M[i] = view.getInt32(off + i * 4, true);
      let A = a0, B = b0, C = c0, D = d0;
      for (let i = 0; i < 64; i++) {
        let F, g;
        if (i < 16) { F = (B & C) | (~B & D); g = i; }
        else if (i < 32) { F = (D & B) | (~D & C); g = (5 * i + 1) & 15; }
        else if (i < 48) { F = B ^ C ^ D; g = (3 * i + 5) & 15; }
        else { F = C ^ (B | ~D); g = (7 * i) & 15; }
        const r = S[(i >> 4) * 4 + (i & 3)];
        const x = (A + F + K[i] + M[g]) | 0;
        A = D; D = C; C = B; B = (B + ((x << r) | (x >>> (32 - r)))) | 0;
      }
      a0 = (a0 + A) | 0; b0 = (b0 + B) | 0; c0 = (c0 + C) | 0; d0 = (d0 + D) | 0;
    }
    let hex = "";
    for (const v of [a0, b0, c0, d0]) for (let i = 0; i < 4; i++) hex += ((v >>> (8 * i)) & 255).toString(16).padStart(2, "0");
    return hex;
  }

  // SHA-256 (FIPS 180-4): WebCrypto where the page is a secure context, else this fallback
  const SK = new Int32Array(64);
  (function () {
    let n = 2, found = 0;
    while (found < 64) {
      let prime = true;
      for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (prime) { SK[found++] = Math.floor((Math.cbrt(n) % 1) * 4294967296) | 0; }
      n++;
    }
  })();

  function sha256Js(bytes) {
    const n = bytes.length, padded = new Uint8Array((((n + 8) >> 6) + 1) * 64);
    padded.set(bytes); padded[n] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 4, (n * 8) >>> 0, false);
    view.setUint32(padded.length - 8, Math.floor(n / 536870912), false);
    const H = new Int32Array([0x6a09e667, 0xbb67ae85 | 0, 0x3c6ef372, 0xa54ff53a | 0, 0x510e527f, 0x9b05688c | 0,
      0x1f83d9ab, 0x5be0cd19]);
    const W = new Int32Array(64);
    const rotr = (x, r) => (x >>> r) | (x << (32 - r));
    for (let off = 0; off < padded.length; off += 64) {
      for (let i = 0; i < 16; i++) W[i] = view.getInt32(off + i * 4, false);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
        const s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      let [a, b, c, d, e, f, g, h] = H;
      for (let i = 0; i < 64; i++) {
        const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + SK[i] + W[i]) | 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    return Array.from(H, (v) => (v >>> 0).toString(16).padStart(8, "0")).join("");
  }

  async function sha256(bytes) {
    if (!(global.crypto && crypto.subtle)) return sha256Js(bytes);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function imagePdq(file) {
    const bitmap = await createImageBitmap(file); // honours EXIF orientation, as the server does
    try {
      const l = lumaOf(bitmap, bitmap.width, bitmap.height);
      return pdqFromLuma(l.luma, l.rows, l.cols);
    } finally { bitmap.close(); }
  }

  // Video: PDQ of one frame per second (at most 120), as the server's vPDQ samples them; the
  // video element never plays and is never attached to the page.
  async function videoFrames(file) {
    const url = URL.createObjectURL(file);
    const video = document.createElement("video");
    video.muted = true; video.preload = "auto"; video.src = url;
    try {
      await new Promise((ok, fail) => { video.onloadedmetadata = ok; video.onerror = () => fail(new Error("cannot decode video")); });
      const frames = [], n = Math.min(120, Math.max(1, Math.floor(video.duration || 1)));
      for (let t = 0; t < n; t++) {
        await new Promise((ok) => { video.onseeked = ok; video.currentTime = Math.min(t, Math.max(0, video.duration - 0.05)); });
        const l = lumaOf(video, video.videoWidth, video.videoHeight);
        const r = pdqFromLuma(l.luma, l.rows, l.cols);
        frames.push({ t_s: t, pdq: r.pdq, quality: r.quality });
      }
      return frames;
    } finally { URL.revokeObjectURL(url); }
  }

  async function hashFile(file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const out = { name: file.name, size: bytes.length, sha256: await sha256(bytes), md5: md5(bytes) };
    if (file.type.startsWith("video/")) {
      out.kind = "video";
      out.frames = await videoFrames(file);
    } else {
      out.kind = "image";
      Object.assign(out, await imagePdq(file));
    }
    return out;
  }

  global.HaechiHasher = { hashFile: hashFile, pdqFromLuma: pdqFromLuma, md5: md5, sha256Js: sha256Js };
})(window);
