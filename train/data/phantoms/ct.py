"""CT phantoms in HU: chest, abdomen and head, randomised per seed.

Axial slices in display orientation (rows anterior -> posterior, columns patient right -> left), 256 x 256,
body FOV 360-420 mm, head FOV 220-250 mm, 2.5-5 mm slices. Each tissue gets a plausible HU, a low-amplitude
correlated texture (parenchyma, fat lobules) and partial-volume edges; the image is noise-free (it is the
full-dose reference, labelled 500 mAs).
"""

from __future__ import annotations

import numpy as np

from ._common import Grid, Phantom, partial_volume, smooth_noise, vessel_tree

__all__ = ["ct_abdomen", "ct_chest", "ct_head"]

SIZE = 256


def _grid(
    rng: np.random.Generator, n_slices: int, fov: tuple[float, float], thick: tuple[float, float]
) -> Grid:
    px = rng.uniform(*fov) / SIZE
    dz = float(rng.choice(np.arange(thick[0], thick[1] + 0.01, 0.5)))
    return Grid((n_slices, SIZE, SIZE), (dz, px, px))


def _textured(mask: np.ndarray, hu: float, amp: float, tex: np.ndarray) -> np.ndarray:
    return np.where(mask, hu + amp * tex, 0.0)


def _torso(g: Grid, rng: np.random.Generator, tex: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Air, table, skin, subcutaneous fat, muscle wall, spine; returns HU, cavity mask, geometry."""
    ax = rng.uniform(140, 175)
    ay = ax * rng.uniform(0.62, 0.78)
    cy = rng.uniform(-8, 8)
    fat = rng.uniform(8, 30)
    wall = rng.uniform(10, 18)
    hu = np.full(g.shape, -1000.0, dtype=np.float32)
    # carbon-fibre table under the patient
    table_y = cy + ay + rng.uniform(4, 12)
    table = (g.y > table_y) & (g.y < table_y + 4) & (np.abs(g.x) < ax * 1.1)
    hu = np.where(np.broadcast_to(table, g.shape), 150.0, hu)
    body = g.ellipsoid(0, cy, ax, ay) < 1
    hu = np.where(body, 20.0, hu)  # skin
    sub = g.ellipsoid(0, cy, ax - 2, ay - 2) < 1
    hu = np.where(sub, -100 + 15 * tex, hu)
    muscle = g.ellipsoid(0, cy, ax - fat, ay - fat * 0.8) < 1
    hu = np.where(muscle, 50 + 8 * tex, hu)
    cavity = g.ellipsoid(0, cy + 4, ax - fat - wall, ay - fat * 0.8 - wall * 1.2) < 1
    # spine: vertebral body, canal, posterior elements (posterior = +y)
    vy = cy + ay - fat * 0.8 - wall * 1.2 - rng.uniform(18, 26)
    vr = rng.uniform(15, 20)
    geo = {"ax": ax, "ay": ay, "cy": cy, "fat": fat, "wall": wall, "vy": vy, "vr": vr}
    return hu, cavity, geo


def _spine(hu: np.ndarray, g: Grid, geo: dict, tex: np.ndarray) -> np.ndarray:
    vy, vr = geo["vy"], geo["vr"]
    # intervertebral discs every ~25 mm along z
    disc = (np.abs(((g.z + 7) % 26) - 13) < 2.5).astype(np.float32)
    body_r = g.ellipsoid(0, vy, vr, vr * 0.85)
    bone = 220 + 60 * tex
    hu = np.where(body_r < 1, np.where(body_r > 0.85, 700.0, bone) * (1 - disc) + 80 * disc, hu)
    canal = g.ellipsoid(0, vy + vr + 9, 8, 7) < 1
    arch = (g.ellipsoid(0, vy + vr + 9, 14, 13) < 1) & ~canal
    spinous = g.ellipsoid(0, vy + vr + 30, 4, 14) < 1
    hu = np.where((arch | spinous) & (disc < 0.5), 600.0 + 80 * tex, hu)
    return np.where(canal, 30.0, hu)


def _nodules(
    hu: np.ndarray,
    g: Grid,
    rng: np.random.Generator,
    organ: np.ndarray,
    count: int,
    value: float,
    radius_mm: tuple[float, float],
) -> np.ndarray:
    """Small spherical lesions (nodules, cysts, metastases) centred inside ``organ``: HU ``value``.

    They exist over a few millimetres of z only, so slice thickness visibly averages them away.
    """
    zi, yi, xi = np.nonzero(organ)
    for _ in range(count if zi.size else 0):
        k = int(rng.integers(zi.size))
        r = rng.uniform(*radius_mm)
        ball = g.ellipsoid(
            float(g.x[0, 0, xi[k]]), float(g.y[0, yi[k], 0]), r, r, cz=float(g.z[zi[k], 0, 0]), rz=r
        )
        hu = np.where((ball < 1) & organ, value, hu)
    return hu


def ct_chest(seed: int, n_slices: int = 24) -> Phantom:
    """Chest CT: body, lungs with vessel trees, heart, aorta, trachea, spine, ribs, scapulae, fat, muscle."""
    rng = np.random.default_rng(seed)
    g = _grid(rng, n_slices, (360, 420), (2.5, 5.0))
    tex = smooth_noise(g.shape, 6, rng)
    hu, cavity, geo = _torso(g, rng, tex)
    ax, ay, cy, vy = geo["ax"], geo["ay"], geo["cy"], geo["vy"]
    # ribs: dots on a ring just outside the cavity, shifting with z (they run obliquely)
    ring_x = ax - geo["fat"] - geo["wall"] * 0.5
    ring_y = ay - geo["fat"] * 0.8 - geo["wall"] * 0.6
    n_ribs = 11
    for k in range(n_ribs):
        a = np.pi * (0.12 + 0.76 * k / (n_ribs - 1))
        for side in (-1, 1):
            ang = a + (g.z * 0.004 + rng.normal(0, 0.03)) * side
            rx = side * ring_x * np.sin(ang)
            ry = cy - ring_y * np.cos(ang)
            d = np.sqrt(((g.x - rx) / 6.0) ** 2 + ((g.y - ry) / 4.5) ** 2)
            hu = np.where(d < 1, np.where(d > 0.6, 750.0, 250.0), hu)
    # scapulae, posterior-lateral, outside the ribs
    for side in (-1, 1):
        sc = g.ellipsoid(side * ax * 0.55, cy + ay * 0.55, 38, 5, angle=side * 0.5) < 1
        sc &= g.ellipsoid(0, cy, ax - geo["fat"] - 2, ay - geo["fat"] * 0.8 - 2) < 1
        hu = np.where(sc, 650.0, hu)
    # lungs
    lung_tex = smooth_noise(g.shape, 3, rng)
    lungs = np.zeros(g.shape, dtype=bool)
    apex = rng.uniform(80, 160)  # lungs narrow towards apex/base: cross-sections change with z
    for side in (-1, 1):
        lrx = ring_x * rng.uniform(0.42, 0.5)
        lung = g.ellipsoid(
            side * ring_x * 0.48,
            cy + rng.uniform(0, 10),
            lrx,
            ring_y * 0.88,
            cz=rng.uniform(-30, 30),
            rz=apex,
        )
        lungs |= lung < 1
    heart_c = (-ring_x * 0.12, cy - ring_y * 0.15)
    heart_r = g.ellipsoid(
        *heart_c,
        ring_x * rng.uniform(0.3, 0.36),
        ring_y * 0.5,
        cz=rng.uniform(-50, 10),
        rz=rng.uniform(45, 65),
        angle=0.4,
    )
    mediast = (np.abs(g.x) < ring_x * 0.18) & (g.y > cy - ring_y) & (g.y < vy)
    lungs &= cavity & (heart_r > 1.08) & ~mediast
    hu = np.where(cavity, -80 + 20 * tex, hu)  # mediastinal fat
    hu = np.where(lungs, -860 + 25 * lung_tex, hu)
    enhanced = rng.random() < 0.5
    blood = 180.0 if enhanced else 40.0
    hu = np.where(heart_r < 1, np.where(heart_r < 0.75, blood, 55.0) + 5 * tex, hu)
    aorta_d = g.ellipsoid(-12.0, vy - 5, 13, 13) < 1  # descending aorta, left of spine
    aorta_a = g.ellipsoid(8.0, cy - ring_y * 0.35, 15, 15) < 1
    hu = np.where((aorta_d | aorta_a) & (g.z > -30), blood, hu)
    trachea = g.ellipsoid(0, vy - 40, 9, 8) < 1
    hu = np.where(trachea & (g.z > 10), -1000.0, hu)
    hu = _spine(hu, g, geo, tex)
    # pulmonary vessel trees from each hilum
    z_scale = g.spacing[1] / g.spacing[0]
    roots = []
    for side in (-1, 1):
        zi, yi, xi = np.nonzero(lungs & (side * g.x > 0))
        if xi.size == 0:
            continue
        medial = np.argsort(side * xi)[: max(1, xi.size // 8)]  # innermost eighth of this lung
        for k in rng.choice(medial, size=12):
            direc = np.array([rng.normal(0, 1.0), rng.normal(0, 0.7), side * rng.uniform(0.5, 1.0)])
            roots.append((np.array([zi[k], yi[k], xi[k]], float), direc / np.linalg.norm(direc), 2.0))
    vessels = vessel_tree(g.shape, roots, rng, generations=7, length_px=22, z_scale=z_scale, inside=lungs)
    hu = np.where(lungs, hu + vessels * (880 + (blood - 40) * 0.5), hu)
    hu = _nodules(hu, g, rng, lungs, int(rng.integers(0, 5)), 30.0, (2.0, 7.0))
    hu = partial_volume(hu.astype(np.float32), 0.6)
    types = ("lung_window", "soft_window")
    return Phantom(hu.astype(np.float32), g.spacing, "ct", "chest", types, {"enhanced": enhanced})


def ct_abdomen(seed: int, n_slices: int = 24) -> Phantom:
    """Abdomen CT: body, liver and its vessels, spleen, kidneys, aorta, IVC, bowel, spine."""
    rng = np.random.default_rng(seed)
    g = _grid(rng, n_slices, (360, 420), (2.5, 5.0))
    tex = smooth_noise(g.shape, 6, rng)
    fine = smooth_noise(g.shape, 2.5, rng)
    hu, cavity, geo = _torso(g, rng, tex)
    ax, ay, cy, vy, vr = geo["ax"], geo["ay"], geo["cy"], geo["vy"], geo["vr"]
    phase = rng.choice(["plain", "portal"])
    enh = 1.0 if phase == "portal" else 0.0
    hu = np.where(cavity, -90 + 20 * tex, hu)  # intra-abdominal fat
    cx = ax - geo["fat"] - geo["wall"]
    # psoas muscles beside the spine
    for side in (-1, 1):
        ps = g.ellipsoid(side * (vr + 14), vy + 2, 13, 15) < 1
        hu = np.where(ps, 50 + 6 * tex, hu)
    # liver on the patient's right (image left), spleen on the left (image right)
    liver = (
        g.ellipsoid(
            -cx * 0.45,
            cy - 5,
            cx * rng.uniform(0.5, 0.6),
            ay * 0.6,
            cz=rng.uniform(-20, 60),
            rz=rng.uniform(80, 120),
            angle=-0.3,
        )
        < 1
    )
    liver &= cavity
    hu = np.where(liver, 60 + 50 * enh + 6 * tex + 4 * fine, hu)
    hu = _nodules(hu, g, rng, liver, int(rng.integers(0, 4)), 10.0 - 20 * enh, (3.0, 10.0))
    hv_roots = []
    d, h, w = g.shape
    z_scale = g.spacing[1] / g.spacing[0]
    for _ in range(4):
        direc = np.array([rng.normal(0, 0.5), rng.normal(0, 0.6), -1.0])
        hv_roots.append(
            (np.array([rng.uniform(0, d - 1), h / 2 + cy / g.spacing[1], w / 2 - 20]), direc, 2.5)
        )
    hv = vessel_tree(g.shape, hv_roots, rng, generations=5, length_px=18, z_scale=z_scale, inside=liver)
    hu = np.where(liver, hu + hv * (-25 + 110 * enh), hu)
    spleen = g.ellipsoid(cx * 0.62, vy - 25, cx * 0.16, ay * 0.3, cz=rng.uniform(-10, 40), rz=55, angle=0.8)
    spleen = (spleen < 1) & cavity
    hu = np.where(spleen, 50 + 60 * enh + 5 * tex, hu)
    for side in (-1, 1):
        kr = g.ellipsoid(side * (vr + 38), vy - 8, 22, 30, cz=rng.uniform(-20, 20), rz=70, angle=side * 0.5)
        cortex = 150.0 if enh else 35.0
        hu = np.where(kr < 1, np.where(kr > 0.7, cortex, 30.0 + 60 * enh) + 4 * tex, hu)
    # aorta and IVC anterior to the spine
    hu = np.where(g.ellipsoid(-6.0, vy - vr - 12, 10, 10) < 1, 45 + 150 * enh, hu)
    hu = np.where(g.ellipsoid(-vr - 10, vy - vr - 10, 12, 9) < 1, 40 + 100 * enh, hu)
    # bowel loops: walls with air, fluid or positive oral contrast content
    free = cavity & ~liver & ~spleen & (g.y < vy - vr - 22)
    for _ in range(int(rng.integers(10, 18))):
        bx, by = rng.uniform(-cx * 0.7, cx * 0.7), rng.uniform(cy - ay * 0.5, vy - vr - 30)
        r = rng.uniform(8, 20)
        loop = g.ellipsoid(
            bx, by, r, r * rng.uniform(0.6, 1.0), cz=rng.uniform(-40, 40), rz=rng.uniform(15, 50)
        )
        content = float(rng.choice([-1000.0, 15.0, 250.0], p=[0.4, 0.4, 0.2]))
        inner = (loop < 0.8) & free
        hu = np.where((loop < 1) & free, 45.0, hu)
        hu = np.where(inner, content + (3 * fine if content > -500 else 0), hu)
    hu = _spine(hu, g, geo, tex)
    hu = partial_volume(hu.astype(np.float32), 0.6)
    return Phantom(hu.astype(np.float32), g.spacing, "ct", "abdomen", ("soft_window",), {"phase": str(phase)})


def head_labels(g: Grid, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tissue labels of a head: 0 air, 1 scalp, 2 skull, 3 CSF, 4 grey, 5 white, 6 lesion, 7 fat, 8 diploe.

    Returns the label volume and a unit-variance texture field. Gyri come from a folding field that moves
    the grey/white boundary; ventricles are two tilted ellipsoids.
    """
    ax, ay = rng.uniform(68, 78), rng.uniform(85, 98)
    az = rng.uniform(60, 75)
    cz = rng.uniform(-20, 10)
    tex = smooth_noise(g.shape, 5, rng)
    fold = smooth_noise(g.shape, 3.2, rng)
    r = g.ellipsoid(0, rng.uniform(-5, 5), ax, ay, cz=cz, rz=az)
    lab = np.zeros(g.shape, dtype=np.uint8)
    lab[r < 1.16] = 1
    lab[r < 1.11] = 7
    lab[r < 1.09] = 2
    lab[r < 1.065] = 8
    lab[r < 1.045] = 2
    lab[r < 1.02] = 3
    brain = r < 0.99 + 0.012 * tex
    lab[brain] = 4
    sulci = brain & (fold > 1.2) & (r > 0.8)
    lab[sulci] = 3
    wm = r < 0.80 + 0.07 * fold
    lab[wm & brain] = 5
    for side in (-1, 1):
        v = g.ellipsoid(
            side * rng.uniform(9, 13), rng.uniform(-12, -4), 5, 26, cz=cz + 5, rz=25, angle=-side * 0.3
        )
        lab[(v < 1) & brain] = 3
    lab[(np.abs(g.x) < 1.2) & (r < 1.0) & (g.y < 0)] = 3  # interhemispheric fissure (anterior)
    for _ in range(int(rng.integers(0, 4))):  # white-matter lesions
        les = g.ellipsoid(
            rng.uniform(-40, 40),
            rng.uniform(-50, 50),
            rng.uniform(3, 9),
            rng.uniform(3, 9),
            cz=cz + rng.uniform(-30, 30),
            rz=rng.uniform(3, 9),
        )
        lab[(les < 1) & (lab == 5)] = 6
    return lab, tex


def ct_head(seed: int, n_slices: int = 24) -> Phantom:
    """Head CT: scalp, skull (cortical and diploic bone), CSF, grey and white matter, ventricles, lesions."""
    rng = np.random.default_rng(seed)
    g = _grid(rng, n_slices, (220, 250), (2.5, 5.0))
    lab, tex = head_labels(g, rng)
    table = np.array([-1000, 30, 1400, 8, 38, 27, 20, -90, 700], dtype=np.float32)
    amp = np.array([0, 4, 150, 2, 2.5, 2.0, 2, 10, 120], dtype=np.float32)
    hu = table[lab] + amp[lab] * tex
    hu = partial_volume(hu, 0.7)
    return Phantom(hu.astype(np.float32), g.spacing, "ct", "head", ("brain_window", "bone_window"), {})
