"""The single-frame refiner's parameters: one frozen record, one documented line per field.

Each field says what it does, its unit, and why its default is what it is. The measurements behind
the defaults (and the changes that were tried and dropped) are in ``bench/RESULTS.md``; quote a
figure there, not here. Quality presets and mask kinds are written as *differences* from the
default, so a reader sees at once what ``draft`` or ``tight`` changes.

Units: "work px" = pixels at the working scale (where the base band is ``work_width`` px wide);
"px" = plate pixels; colour values are in the matting image's units ([0, 1]).

Tuning discipline (bench/RESULTS.md, "How to change a default"): tune on one fold (alphamatting
GT01-09 or GT10-18; one synthvideo clip left out; DAVIS by sequence), report the other, and keep a
change only if it helps on the fold it was not tuned on, through the product path
(``bench/bench_stills.py`` default: ``samatte refine`` on linear EXR plates with PNG masks), with
the plates read both as the config's scene_linear (the benches' default) and as what they are
(``--colourspace "Linear Rec.709 (sRGB)"``): a gain that reverses is the display image's.
"""
from dataclasses import dataclass, fields, replace

from ..errors import SamatteError

__all__ = ["RefineParams", "DEFAULT", "QUALITIES", "MASK_KINDS", "params_for"]


@dataclass(frozen=True)
class RefineParams:
    # -- working scale and the initial band --------------------------------------------------------
    #: band half-width at the working scale (work px); sets the scale. ~4 px is what closed-form and
    #: sampling need to see both sides of an edge; wider costs time with no gain on the stills.
    work_width: float = 4.0
    #: base band half-width as a fraction of the frame diagonal (1). Rough masks (roto, ds8/ds32,
    #: polygons) are off by ~1 % of the frame; tight masks override it (MASK_KINDS).
    base_frac: float = 0.01
    #: ... and at most this many times the mask's mean depth (1; the mean distance of its pixels to its
    #: edge; 0 = no cap): a rough mask of many small or thin parts (foliage, a rider, strands) is off
    #: by a fraction of each part, and a band as wide as the parts hands every part to colour alone.
    depth_cap: float = 0.75
    #: ... and the same cap taken part by part, inside the mask (1; 0 = off): at each point of the
    #: edge, the band reaches into the mask at most this many times the local depth of the part there
    #: (half the deepest distance to the edge within the band's widest reach, 4 base bands: a strip's
    #: mean depth), so a thin part attached to a big one (a rider on a horse, a leg, an arm) is not
    #: handed to colour whole while the big one keeps its band. Outward the band, and the growth
    #: everywhere, stay as they are: hair and leaves past a thin lobe of the mask need them. Off: at
    #: 0.75 it cut the DAVIS loss on fold A (0.017 / 0.016 -> 0.014 / 0.013) but cost see-through
    #: foliage, whose masks' thin lobes hold background (1080p proxy ds32 fold B 0.695 -> 0.718, a
    #: new case worse than its mask); bench/RESULTS.md, round 11. It caps the base band's width map
    #: (:func:`samatte.matte.regions.critical_regions`), not what the video's doubt or the logits add;
    #: re-measured there (round 12): DAVIS fold A 0.015 / 0.013, stills fold B 0.572 / 0.564.
    depth_local: float = 0.0
    #: widen the band where image evidence says the edge is soft or misplaced (bool); see regions.
    adaptive: bool = True
    #: how much that image evidence (texture, colour overlap, edge misalignment) widens it (1).
    gain: float = 0.3
    # -- band growth -------------------------------------------------------------------------------
    #: growth rounds (count); each round re-samples and grows where alpha runs into a fixed region.
    grow: int = 4
    #: growth step per round (work px), scaled down with the base band for small objects.
    step: float = 6.0
    #: alpha this far from the adjacent fixed label (1 - leak near FG, leak near BG) counts as a leak.
    leak: float = 0.05
    #: a soft object's fringe trails out past its mask (work px; 0 = off, the default; with solver
    #: "sm+cf" only): the floor of a leak into the background is ``leak x min(1, leak_crisp / W)``, W
    #: the object's transition width as the first round's samples measure it (soft samples per pixel
    #: of the mask's inner edge, as ``mask_crisp``). A crisp edge's anti-aliasing ends within the
    #: band, and alpha at its outer rim is the samples' noise, which the floor is there to ignore;
    #: strands and wool thin out to nothing over a width that grows with W, and the rim's alpha is the
    #: start of that tail, whose mass past the rim grows with its alpha there times W. Outward only:
    #: inside, strands thicken into a solid coat. Off: at 2.5 with tight masks the five furry tracker
    #: stills gain on both folds (0.609 / 0.498 -> 0.607 / 0.493 of the mask's MAD; the plates read as
    #: linear Rec.709: 0.613 / 0.504 -> 0.610 / 0.500), but the synthvideo clips' figures move with the
    #: display image the samples see: cows' dtSSD 1.326 -> 1.301 through the CLI reading the plates as
    #: the config's ACEScg, 0.600 -> 0.614 of cf6's when they are read as what they are (linear
    #: Rec.709), 1.323 -> 1.354 in the in-process stage; read as ACEScg horsejump pays (MAD 0.885 ->
    #: 0.891), read as Rec.709 bmx does (bench/RESULTS.md round 19).
    leak_crisp: float = 0.0
    #: a leak must persist over this many rim pixels (px, box side) to grow; 1 = every leak grows.
    leak_run: int = 1
    #: calibrate the leak thresholds on the image (base band half-widths; 0 = off, the default for
    #: rough masks; with solver "sm+cf" only): in the first growth round, a ring of the mask's
    #: background 2-3 band widths past its edge (at least a band width clear of the band) and one of
    #: its foreground are sampled beside the band as if unknown; what they get is what a leak looks
    #: like where there is none (a busy background, colours the object shares with what is behind
    #: it), and within this many band widths of them a leak must exceed it to grow (below ~1 it
    #: cannot reach the band's rim). It needs the mask's labels to hold past the band: tight masks
    #: only (on rough masks the rings lie inside the mask's own error; bench/RESULTS.md, round 8).
    leak_calib: float = 0.0
    #: growth stays within this fraction of the object's size (sqrt of area) of the mask's edge (1):
    #: a rough mask is off by a fraction of the object, not more (DAVIS: unbounded growth ate objects).
    grow_reach: float = 0.1
    # -- the self-check (do no harm) ---------------------------------------------------------------
    #: self-check of the growth (1; 1.0 = off, the default): a grown region whose growth did not
    #: close -- more than this share of its rim (or of its pixels) still leaking when the rounds or
    #: the reach ran out -- falls back to the base band's answer. Off because at 0.25 it failed the
    #: fold test (helps ds8 on GT10-18, hurts GT01-09 and polygons: GT04's hair grows to the last
    #: round); see bench/RESULTS.md.
    runaway: float = 1.0
    #: coverage check (alpha units; 1.0 = off): a rough mask is right about how much of the object
    #: covers each patch of its own error scale (a downsampled mask keeps the area of each block, a
    #: polygon's outline averages out between its vertices), even where its edge is wrong. Where the
    #: matte's coverage, blurred at the base band's width, differs from the mask's by more than this,
    #: the estimate has left the evidence (a part lost on a busy background, a region flipped by
    #: colours the object shares with what is behind it) and the matte is pulled back towards the
    #: mask there, fully at twice this difference. Off: at 0.2-0.3 it cut the DAVIS loss (0.081 ->
    #: 0.049-0.069) but cost the stills on both folds (polygon 0.425 -> 0.491); bench/RESULTS.md.
    coverage: float = 1.0
    #: evidence check (1/residual; 0 = none beyond what auto_evidence sets, the default): the matte may
    #: depart from the mask's label (a mask-anchored ramp: 0.5 at the mask's edge, solid ``ramp`` x one
    #: base band inside / outside) only where the compositing equation with the local mean colours of the mask's
    #: solid foreground F and background B explains the pixel, ``r = |I - (aF + (1-a)B)| / |F - B|``
    #: (shadows, smoke, colours shared with the background explain badly); support
    #: ``1 - evidence x r``, clipped to [0, 1], blends the matte with the ramp there. A fixed strength
    #: everywhere costs the stills on both folds (GT13's leaves: ds32 B 0.529 -> 0.63-0.69), so the
    #: default leaves it to auto_evidence, which turns it on only where colour cannot separate the
    #: sides; bench/RESULTS.md has the trade-off and the variants tried.
    evidence: float = 0.0
    #: the evidence check switches itself on where colour cannot tell the object from what is behind
    #: it (1/residual at no trust; 0 = off). The image's trust is measured once per object by the colour
    #: overlap near the mask's edge (:func:`samatte.matte.refine.colour_overlap`: the Bayes overlap of
    #: the colour histograms of the mask's inner and outer rings, 1-3 base bands from its edge; the best
    #: colour classifier errs on half of it): full trust up to ``overlap_lo``, none from ``overlap_hi``,
    #: linear between; the check's strength is ``auto_evidence x (1 - trust)`` (at least ``evidence``).
    #: Where colours overlap (real footage: shadows, smoke, busy backgrounds sharing the object's
    #: colours; soft objects whose solid part is itself a mix), a colour-driven departure from the mask
    #: is more often wrong than right. Chosen on DAVIS fold A (bmx-trees, dog, horsejump-high) with the
    #: stills' fold A (no change there: their overlap is low); measured on the other folds in
    #: bench/RESULTS.md (DAVIS fold B IoU loss 0.100 -> 0.008; stills fold B pays on GT13, less since
    #: ``decisive``).
    auto_evidence: float = 2.0
    #: colour overlap up to which the image is fully trusted (1): 10 % of ring pixels misclassified.
    overlap_lo: float = 0.2
    #: colour overlap from which it is not trusted at all (1): 20 % misclassified.
    overlap_hi: float = 0.4
    #: half-width of the do-no-harm checks' mask-anchored ramp (the answer where the evidence or the
    #: typical-colour check pulls a pixel back), as a fraction of the base band (1). The ramp is the
    #: expected alpha when the true edge lies anywhere within the band; a narrower one is closer to the
    #: mask. 0.5 / 0.25 cut the 1080p proxy's one harm case (furry1 ds8 1.13 -> 1.02 / 0.97 of its
    #: mask's MAD) but cost every other soft case on both folds (bench/RESULTS.md).
    ramp: float = 1.0
    #: where the evidence check runs, make the ramp at most as wide as the object's own edges (bool;
    #: off): its half-width is then at most half the matte's mean transition width, measured where the
    #: image explains the matte (its soft pixels, between snap_lo and snap_hi, with the check's support
    #: >= 0.5, per pixel of the mask's edge). For a crisp object (a transition 1-2 px wide) the base
    #: band's 22-px ramp at 1080p is a soft edge the object does not have: on, the 1080p proxy's cases
    #: worse than their mask go 10 -> 6 (crisp shapes with polygons 2.10 / 1.72 / 1.33 -> 1.53 / 0.99 /
    #: 1.01 of the mask's MAD, fur with ds8 masks 1.11-1.19 -> 0.97-1.01) and the DAVIS IoU loss drops on
    #: both folds (polygon 0.016 / 0.006 -> 0.009 / 0.004), but every mean MAD with soft truth pays
    #: (smoke and foliage: their soft pixels are not explained by the local mean colours, so the width
    #: measured is too small), on both folds: stills fold B ds32 / polygon 0.633 / 0.613 -> 0.651 /
    #: 0.641 (GT13), synthetic 1x ds8 0.785 / 0.797 -> 0.801 / 0.827 (all measured before ``decisive``).
    #: Where the solve is decisive (``decisive``) the width is measured on all the matte's soft pixels:
    #: they are the object's (GT13's leaf edges: polygon 0.58 -> 0.91 of the mask's MAD when measured
    #: on the explained ones only, 0.59 on all). At 0.2.6 (round 14), DAVIS ds8 / polygon IoU loss,
    #: folds A / B: 0.017 / 0.007, 0.016 / 0.006 -> 0.015 / 0.004, 0.010 / 0.004; the 1080p proxy's
    #: cases worse than their mask 10 -> 7; stills fold B within 0.004; but both synthetic proxies' mean
    #: MADs pay on both folds (1080p fold B ds8 0.688 -> 0.737, smoke 0.78 -> 0.85). Off by the fold
    #: rule; the trade-off is in bench/RESULTS.md rounds 9 and 14.
    ramp_measured: bool = False
    #: the solve vouches for its own decided departures (share of the check's band, 0-1; 0 = off): where
    #: the evidence check runs and less than this share of its ramp's band (the ramp strictly between
    #: 0.02 and 0.98) is undecided (alpha between ``decided`` and 1 - ``decided``), departures the solve
    #: decided (alpha within ``decided`` of 0 or 1) are not pulled back. Rings' colours overlap for two
    #: reasons: colours the sides share (grey car on grey tarmac, smoke, pale fur on dry grass), where
    #: the colour-line solve cannot decide and leaves much of the band half transparent (DAVIS frames
    #: 0.31-0.68 of it), and a mask so far off a see-through object that each ring holds both sides,
    #: where the solve still finds crisp edges (GT13 0.20-0.25). 0.3 lies between them (chosen with
    #: GT13 and the DAVIS frames in view; the other protocols' figures are in bench/RESULTS.md round 10).
    decisive: float = 0.3
    #: alpha within this of 0 or 1 counts as decided by the solve (alpha); see ``decisive``.
    decided: float = 0.15
    #: where the solve is decisive, its undecided departures stand too when their colour is typical of
    #: the side the matte moves them to (strength, 0-1; 0 = off): the other side's share of the two
    #: colour likelihoods (those of the typical-colour check), none up to 0.5, fully from
    #: ``typical_hi``. A decisive solve says the rings overlap because the mask is off, not because the
    #: sides share colours; then a pixel inside the mask left partly transparent in a colour of the
    #: background is background seen through a gap (leaves, a plant), and one in the object's own
    #: colour is still pulled back (texture blotches). Not where the solve cannot decide: there colour
    #: is what cannot be trusted (on every departure, DAVIS ds8 IoU loss fold B 0.007 -> 0.045).
    #: Chosen on GT13 (stills fold B); DAVIS has no decisive frame, stills fold A no image the check
    #: acts on (bench/RESULTS.md round 14).
    decisive_typical: float = 1.0
    #: typical-colour check (strength, 0-1; 0 = off): a pixel the matte flips against the mask's label
    #: (alpha below ``typical_flip`` inside the mask, above 1 - ``typical_flip`` outside) while its colour
    #: is typical of the side the mask puts it on is pulled back to the mask-anchored ramp (see
    #: ``evidence``). Typical: the pixel's share of the two colour likelihoods (16^3 histograms of the
    #: solid foreground and background at the working scale), none up to 0.5, fully from
    #: ``typical_hi``. A colour the object shares with its own interior is no evidence that the pixel
    #: is background (a dark fold of a light coat, a shadowed leg). Only flips are checked: partial
    #: alpha (hair, blur) in colours typical of the object is the matte's job. Chosen on DAVIS fold A
    #: (IoU loss ds8 / polygon 0.029 / 0.023 -> 0.020 / 0.016); fold B 0.008 / 0.007 -> 0.007 / 0.006;
    #: stills within 0.005 of before on both folds (bench/RESULTS.md). Checking every departure, not
    #: only flips, cost the hair stills (GT04 ds8 0.51 -> 0.58).
    typical: float = 1.0
    #: likelihood share (own side / both) from which the typical-colour check acts fully (1).
    typical_hi: float = 0.8
    #: the check looks only at flips: alpha below this inside the mask (above 1 - this outside) (alpha).
    typical_flip: float = 0.5
    #: ties go to the mask (alpha; 0 = off): a pixel the finished matte leaves within this of 0.5 on
    #: the other side of the middle from the mask's label (0.4-0.5 inside the mask, 0.5-0.6 outside
    #: at 0.1) is put at the middle on the mask's side. Where the matte overturns the mask's label it
    #: should be decided; on DAVIS most wrong flips are not (alpha 0.3-0.5 inside the mask: 947 / 868 /
    #: 676 px of dog/00000 / 00010 / 00020 taken wrongly against 182 / 74 / 96 rightly), while the
    #: stills' right flips are decided. A pixel moves by at most this much. Chosen on DAVIS fold A as
    #: the smallest of 0.05 / 0.1 / 0.15 / 0.2 that meets its IoU-loss target (ds8 / polygon 0.017 /
    #: 0.016 -> 0.012 / 0.010, 0.009 / 0.006, 0.006 / 0.003, 0.005 / 0.001); fold B 0.007 / 0.006 ->
    #: 0.003 / 0.003; the stills' ratios within 0.003 of before on both folds (bench/RESULTS.md round
    #: 16). The matte option ``tie`` sets it per job.
    tie: float = 0.1
    #: ... widened as the object measures soft (work px; 0 = off, the default for rough masks, whose
    #: band holds the mask's own error): ``tie x max(1, W / tie_crisp)``, at most ``0.5 - decided``
    #: (a value the refiner calls decided is never a tie), W the object's transition width on the
    #: final band's samples (as ``mask_crisp``). Across a crisp edge (W ~2-3) a pixel the matte puts
    #: at 0.35 is a measured partial pixel of the anti-aliased edge; across a soft one (motion blur,
    #: fur, wool: W 4-7; real footage's JPEG and optics: 4-7 on every DAVIS sequence) the solve's
    #: value there is less certain (it under-estimates wool's partial alpha by ~0.05), and a flip
    #: against a tight mask's label is wrong 6-13 times as often as right in every alpha bin on DAVIS
    #: with tracker-like masks. Tight masks take 2.5, mask_crisp's crisp width, so the tie stays ~0.1
    #: on crisp objects; nothing here was fitted. The scaled form was chosen over a flat tie for
    #: tight masks (0.15-0.3), which helps DAVIS as much but costs the crisp synthvideo clip (bmx),
    #: whose partial pixels the matte measures right. DAVIS video told tight: 0.9705 -> 0.9752 IoU,
    #: frames losing > 0.01 23 -> 13 of 55; cows' dtSSD 0.601 -> 0.595 of cf6's (bench/RESULTS.md
    #: round 20, with every other fold and both readings of the plates).
    tie_crisp: float = 0.0
    # -- the solve ---------------------------------------------------------------------------------
    #: "sm+cf": shared-matting samples drive growth, then closed-form with them as a weak data term;
    #: "cf": closed-form only (no samples; slower growth decisions).
    solver: str = "sm+cf"
    #: shared matting's trimap expansion radius (work px), about the band's half-width; pymatting's
    #: default (10) reaches across the whole band and blurs decisions. Tight masks took 10 until 0.2.4
    #: (for speed); 5 is better on each synthvideo clip (MAD / dtSSD bmx 0.68 / 1.22 -> 0.67 / 1.20,
    #: cows 1.05 / 1.38 -> 1.05 / 1.37, horsejump 0.95 / 1.59 -> 0.91 / 1.55: every leave-one-out fold
    #: picks it) and on the tracker stills (0.628 / 0.514 -> 0.619 / 0.507) at the same speed.
    sm_expand: int = 5
    #: weight of the sampling estimate as a data term of the closed-form solve (1, per pixel).
    prior_weight: float = 0.01
    #: weight of the coarse mask's label as a data term where the samples agree with it (1): a part
    #: coloured between object and background is not left half transparent when both call it solid.
    mask_weight: float = 0.02
    #: ... weighed by how crisp the object is (work px; 0 = off, the default for rough masks, whose
    #: band holds the mask's own error): ``mask_weight x min(1, mask_crisp / W)^2``, W the object's
    #: measured transition width (the samples between ``snap_lo`` and ``snap_hi`` per pixel of the
    #: mask's edge). A binary label is the truth past a crisp object's anti-aliased edge and wrong
    #: across a soft one's transition (wool, fur, hair): its error over the band grows with W, so its
    #: weight falls as 1 / W^2 (inverse variance). Crisp objects measure 2.0-2.6 (stills GT01 / 02 /
    #: 05 / 13 / 18, synthvideo bmx), soft ones 3.4-7.4; tight masks take 2.5, with mask_weight 0.04,
    #: what the crisp objects want (bench/RESULTS.md round 18).
    mask_crisp: float = 0.0
    #: background seen through gaps the mask filled joins the band: likelihood ratio bg/fg (1); 0 = off.
    gaps: float = 8.0
    #: ... and only colours at least this quantile common in the background (1).
    gap_typical: float = 0.5
    #: ... or as common in the background near the pixel: the same quantile over the background
    #: within ~this many base bands (tiles of it, 3 x 3 around; 0 = over the whole background only).
    #: A background of several surfaces (smooth sky above textured sand, a wall beside foliage) spreads
    #: a textured one's colours over many histogram bins, so none of them is as common as the smooth
    #: one's over the whole frame, though it is what a gap there shows. 8 (twice the band's widest
    #: reach) was not tuned (4 / 16 give the same on GT13); chosen on GT13 (stills fold B: ds32 0.590 ->
    #: 0.568), fold A 0.463 / 0.430 -> 0.460 / 0.421 (ds32 / polygon); DAVIS and synthvideo identical
    #: (bench/RESULTS.md round 12). A lower quantile over the whole background finds more (GT13) but
    #: also the dog's dark eye and nose on DAVIS (fold A IoU loss 0.017 -> 0.022).
    gap_local: float = 8.0
    #: ... or a colour missing from the rest of the object: its likelihood under the background is
    #: ``gap_far_ratio`` times that under the foreground *away from the pixel* (outside the 3 x 3 tiles
    #: of ~this many base bands around it, the tiles of ``gap_local``; 0 = off). A filled gap is
    #: foreground to the mask, so a large one (the background between two legs under a polygon, a hole
    #: of a few % of the object) makes its own colours common in the foreground's histogram and votes
    #: itself out of the ratio test. Chosen on GT18 (stills fold B, polygon 30.4 -> 11.9 MAD; fold B
    #: 0.559 -> 0.488) and on the known gap of a 23-px filled hole (mean alpha there 0.82 -> 0.05);
    #: fold A, DAVIS, synthvideo and the 1080p proxy identical or better (bench/RESULTS.md round 13).
    gap_far: float = 8.0
    #: the far test's likelihood ratio (1): the colour is *missing* from the rest of the object (its
    #: far likelihood at the histogram's floor), not merely rarer there: a textured object's colour
    #: found mostly in one patch of it reaches ~9 (the 1080p proxy's furry1: 8.5-8.9, opened at 8, a
    #: case worse than its mask), GT18's gap 100 - 10^5; 16-128 give the same stills. gaps^2.
    gap_far_ratio: float = 64.0
    #: min depth (work px) of the kept middle of parts thinner than the band; 0 = off (rough masks).
    thin_cores: float = 0.0
    #: a separate part of the mask keeps a solid core when the band would swallow it, if its deepest
    #: pixel is at least this deep (work px from its edge; 0.5 = a part 1-2 px across at the working
    #: scale, 1.5 = 3-4 px). 1.0 (rough masks): parts under 3 work px may be the mask's noise; 0.5 for
    #: tight masks, whose parts are the object's (a wire under 3 work px was erased: 11 px at 1080p).
    core_depth: float = 1.0
    #: conjugate-gradient tolerance (relative residual) and iteration cap of the closed-form solves.
    tol: float = 1e-4
    maxiter: int = 800
    # -- full resolution ---------------------------------------------------------------------------
    #: "guided": fast guided filter from the working scale to full resolution; "cf": closed-form pyramid.
    fine: str = "guided"
    #: guided filter regulariser (colour variance units) and radius (work px).
    gf_eps: float = 1e-4
    gf_radius: int = 2
    #: on a linear-light solve image, scale gf_eps by (local brightness / 0.5)^2 (bool): colour
    #: variation in linear light scales with brightness, and gf_eps was chosen on display images.
    gf_relative: bool = True
    #: weight of the coarser level's answer in the "cf" pyramid, away from solid pixels (1).
    refine_prior: float = 0.05
    #: px around fractional alpha re-solved at finer levels.
    rim: int = 2
    #: the finest scale solved (1 = full resolution).
    finest: float = 1.0
    #: final snap of faint / near-solid alpha to exact 0 / 1 (alpha units).
    snap_lo: float = 0.05
    snap_hi: float = 0.95
    #: faint alpha (below ``snap_lo``) within this many px of alpha >= ``snap_lo`` is kept (px; 0 =
    #: off, the default for rough masks): the snap is there for the solve's isolated faint noise, and
    #: the pixel that continues a soft edge by one step is the edge's faint end (a fringe of wool or
    #: hair fading out). Tight masks keep 1 (their solve is at the plate's resolution): where the
    #: three synthvideo clips' faint pixels lie next to the edge's soft ones, keeping them lowers the
    #: squared error on every clip (and the absolute error on two), farther out it raises it. Through
    #: the CLI, MAD / dtSSD bmx 0.673 / 1.201 -> 0.668 / 1.198, cows 1.038 / 1.361 -> 1.004 / 1.336,
    #: horsejump 0.905 / 1.542 -> 0.912 / 1.538; the tracker stills, never looked at to choose it,
    #: 0.618 / 0.504 -> 0.614 / 0.500 of the mask's MAD on both folds. Rough masks' faint pixels
    #: come from the guided filter's upsampling, and there it was mixed (stills fold B ds32 / polygon
    #: 0.534 / 0.457 -> 0.535 / 0.459). Only where colour is trusted (the evidence check is off): beside
    #: a crisp edge in the background's colours the faint pixel is haze (the camouflage stress's crisp
    #: shapes with ds8 masks read tight, 0.58 -> 0.62 of their mask's MAD and one case worse than its
    #: mask when kept everywhere; 0.58 with the condition); bench/RESULTS.md round 17.
    snap_keep: float = 0.0
    #: 2 = refine again from the first answer's own edge and average (twice the time; helps rough
    #: masks, not ds8).
    passes: int = 1
    #: mask-perturbation consensus (px at full resolution; 0 = off, the default): refine twice more,
    #: from the mask grown and from the mask shrunk by this many px, and keep a decided flip against
    #: the mask's label (alpha crossing 0.5) only where the estimate from the mask moved toward the
    #: pixel flips it too (inside the mask: the grown mask's; outside: the shrunk one's); elsewhere the
    #: pixel takes that estimate's alpha. A flip the picture decides survives moving the mask's edge a
    #: few px; one that depends on where the mask put the band's constraints (a camouflaged part, a
    #: thin occluder bridged) does not. Three solves: about three times the matte's time. Experimental,
    #: bench/RESULTS.md (issue 15, the session of the 7th).
    consensus: float = 0.0
    #: with ``consensus``: take a flip back only where the moved mask's estimate *decides* the mask's
    #: label (alpha within ``decided`` of it), not where it merely leans to it (bool).
    consensus_decided: bool = False


DEFAULT = RefineParams()

#: quality presets as differences from the default
QUALITY_DIFFS = {
    "draft": dict(work_width=3.0, grow=2, sm_expand=4, rim=1, maxiter=300),
    "default": {},
    "high": dict(tol=1e-5, passes=2),
}
QUALITIES = {name: replace(DEFAULT, **diff) for name, diff in QUALITY_DIFFS.items()}

#: What the coarse mask is, and so how far its edge may be from the true one (``mask=`` of
#: :func:`samatte.matte.refine.refine_alpha`; the matte option ``masks``), as differences:
#: "rough": roto shapes, polygons, masks from a much smaller resolution (off by 1-3 % of the frame).
#: "tight": a segmentation model's mask at its own resolution (off by a few px): a narrow base band
#: (0.3 % of the diagonal), growth only where the leak is clear (0.15) and stronger than what the
#: samples give the known background and foreground just past the band (``leak_calib``; this replaced
#: a rule that a leak persist over 5 rim pixels, which cut the tails of fuzzy objects: hair, wool),
#: two growth rounds (12 work px past the band: a fringe, not a misplaced edge; each round more is a
#: sampling pass, and 4 rounds took a 1080p frame past 1 s), the middle of parts thinner than the
#: band kept, the faint end of a soft edge kept (``snap_keep``), and the mask's label weighed by how
#: crisp the object measures (``mask_weight`` 0.04 at a crisp edge's width, falling as 1 / W^2
#: past it: ``mask_crisp``).
MASK_KINDS = {
    "rough": {},
    "tight": dict(base_frac=0.003, leak=0.15, leak_calib=3.0, grow=2, thin_cores=2.0, core_depth=0.5, snap_keep=1.0,
                  mask_weight=0.04, mask_crisp=2.5, tie_crisp=2.5),
}

_NAMES = frozenset(f.name for f in fields(RefineParams))


def params_for(quality="default", mask="rough", options=None):
    """The record for a quality preset, a mask kind and overrides (a dict of field names, or a
    :class:`RefineParams` taken as is). Unknown names raise SamatteError."""
    if isinstance(options, RefineParams):
        return options
    if quality not in QUALITIES:
        raise SamatteError("quality must be one of %s, got %r" % (sorted(QUALITIES), quality))
    if mask not in MASK_KINDS:
        raise SamatteError("mask must be one of %s or 'auto', got %r" % (sorted(MASK_KINDS), mask))
    p = replace(QUALITIES[quality], **MASK_KINDS[mask])
    if options:
        unknown = sorted(set(options) - _NAMES)
        if unknown:
            raise SamatteError("unknown refine option(s) %s" % ", ".join(unknown))
        p = replace(p, **options)
    return p
