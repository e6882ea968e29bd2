"""The ImageNet recipes: image mode at 224², B-size models, LookupViT's four grids; the COCO recipe's frozen encoder
has exactly the shapes of the ImageNet run it reads by default (and of the K400 run with `:k400`)."""
from accelerate import init_empty_weights

from mmlookup.config import load_recipe
from mmlookup.models import build_encoder, build_model


def _shapes(recipe):
    with init_empty_weights():
        return {k: tuple(v.shape) for k, v in build_encoder(recipe).state_dict().items()}


def test_imagenet_recipes_are_image_mode_b16():
    vit, look = load_recipe("imagenet/vit_b16"), load_recipe("imagenet/lookupvit_b16")
    for r in (vit, look):
        assert (r.model.num_frames, r.model.img_size, r.model.patch_size, r.data.format) == (1, 224, 16, "imagenet")
        assert (r.data.short_side, r.data.rrc_scale, r.data.randaugment_ops) == (256, (0.08, 1.0), 2)
    assert sorted(look.model.grids) == [(1, 3, 3), (1, 5, 5), (1, 7, 7), (1, 10, 10)]
    assert (look.optim, look.data, look.train.epochs) == (vit.optim, vit.data, vit.train.epochs)
    with init_empty_weights():
        model, plain = build_model(look, 1000), build_model(vit, 1000)
    assert model.head_names == ("compressed", "lookup")
    assert 80e6 < sum(p.numel() for p in plain.parameters()) < 100e6
    assert load_recipe("imagenet/vit_b16:in21k").model.pretrained  # initialised from imported weights
    assert load_recipe("imagenet/lookupvit_b16:runlocal").train.max_steps > 0


def test_coco_recipe_reads_the_imagenet_run_by_default_and_k400_on_request():
    coco, k400 = load_recipe("coco/caption_lookupvit_frozen"), load_recipe("coco/caption_lookupvit_frozen:k400")
    assert coco.caption.encoder_checkpoint == load_recipe("imagenet/lookupvit_b16").train.output_dir
    assert _shapes(coco) == _shapes(load_recipe("imagenet/lookupvit_b16"))  # strict loading will fit
    assert k400.caption.encoder_checkpoint == load_recipe("k400/lookupvit_b16_16x4").train.output_dir
    assert _shapes(k400) == _shapes(load_recipe("k400/lookupvit_b16_16x4"))


def test_robustness_recipes_set_their_protocol():
    for kind in "cra":
        assert load_recipe(f"imagenet/robustness_{kind}").eval.robustness == f"imagenet_{kind}"
    o = load_recipe("imagenet/robustness_o")
    assert o.eval.robustness == "imagenet_o" and o.eval.in_distribution
    assert load_recipe("imagenet/robustness_c").data.short_side == 224  # ImageNet-C images are 224² crops already
