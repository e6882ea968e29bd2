import pytest
import torch
import torch.nn.functional as F

from mmlookup import create_encoder
from mmlookup.layers.tubelet import TubeletEmbed, inflate_patch_weight


def test_grid_and_shapes():
    pe = TubeletEmbed(3, 32, tubelet_size=2, patch_size=8)
    x, grid = pe(torch.randn(2, 3, 6, 32, 40))
    assert grid == (3, 4, 5) and x.shape == (2, 60, 32)


@pytest.mark.parametrize("shape,match", [((1, 3, 5, 32, 32), "not divisible by the tubelet"),
                                         ((1, 3, 4, 30, 32), "not divisible by the patch"),
                                         ((1, 3, 4, 32, 36), "not divisible by the patch")])
def test_clear_errors_for_indivisible_inputs(shape, match):
    pe = TubeletEmbed(3, 16, tubelet_size=2, patch_size=8)
    with pytest.raises(ValueError, match=match):
        pe(torch.randn(*shape))


def test_encoder_rejects_bad_frame_count():
    enc = create_encoder("lookupvit_nano")
    with pytest.raises(ValueError, match="tubelet"):
        enc(torch.randn(1, 3, 7, 64, 64))


def test_image_equals_repeated_frames():
    """T=1 sums the kernel over time: identical to the image repeated t times, at 1/t of the cost."""
    pe = TubeletEmbed(3, 16, tubelet_size=4, patch_size=8)
    img = torch.randn(2, 3, 1, 16, 24)
    x_img, g_img = pe(img)
    x_rep, g_rep = pe(img.repeat(1, 1, 4, 1, 1))
    assert g_img == g_rep == (1, 2, 3)
    torch.testing.assert_close(x_img, x_rep, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["average", "central"])
def test_inflation_static_video_equals_2d_patch_embedding(mode):
    w2d, b = torch.randn(16, 3, 8, 8), torch.randn(16)
    pe = TubeletEmbed(3, 16, tubelet_size=2, patch_size=8)
    with torch.no_grad():
        pe.proj.weight.copy_(inflate_patch_weight(w2d, 2, mode))
        pe.proj.bias.copy_(b)
    img = torch.randn(1, 3, 16, 16)
    tokens, _ = pe(img[:, :, None].repeat(1, 1, 4, 1, 1))
    ref = F.conv2d(img, w2d, b, stride=8).flatten(2).transpose(1, 2)  # (1, 4, 16)
    torch.testing.assert_close(tokens.view(1, 2, 4, 16), ref[:, None].expand(1, 2, 4, 16), atol=1e-5, rtol=1e-5)


def _two_d_reference(vit, img, w2d):
    """The 2D ViT with the same weights: conv2d patches + spatial position (+ CLS), the same blocks and norm."""
    x = F.conv2d(img, w2d, vit.patch_embed.proj.bias, stride=8).flatten(2).transpose(1, 2) + vit.pos_embed.pos_hw
    if vit.num_prefix_tokens:
        x = torch.cat([vit.cls_token + vit.cls_pos, x], dim=1)
    for blk in vit.blocks:
        x, _ = blk(x)
    return vit.norm(x)


@pytest.mark.parametrize("mode", ["average", "central"])
def test_inflated_video_vit_on_static_video_equals_2d_model_on_the_image(mode):
    """Without a CLS token a static clip gives exactly the 2D model's tokens in every time slice (attention over
    duplicated keys is unchanged). With a CLS token the duplicates get T' times the softmax mass relative to CLS,
    so exact equality holds only for the image path (T=1), which is tested too."""
    torch.manual_seed(0)
    w2d = torch.randn(128, 3, 8, 8) * 0.02
    img = torch.randn(1, 3, 32, 32)
    for class_token in (False, True):
        vit = create_encoder("vit_nano", num_frames=4, img_size=32, patch_size=8, class_token=class_token).eval()
        with torch.no_grad():
            vit.patch_embed.proj.weight.copy_(inflate_patch_weight(w2d, 2, mode))
            ref = _two_d_reference(vit, img, w2d)
            out_img = vit(img[:, :, None]).tokens
            out_vid = vit(img[:, :, None].repeat(1, 1, 4, 1, 1)).tokens
        torch.testing.assert_close(out_img, ref, atol=1e-5, rtol=1e-4)
        if not class_token:
            torch.testing.assert_close(
                out_vid.view(1, 2, 16, 128), ref[:, None].expand(1, 2, 16, 128), atol=1e-5, rtol=1e-4
            )


def test_bad_inflation_mode():
    with pytest.raises(ValueError, match="valid modes"):
        inflate_patch_weight(torch.randn(4, 3, 2, 2), 2, "middle")


@pytest.mark.parametrize("frames", [1, 4])
def test_gemm_equals_conv3d_with_same_weights_and_grads(frames):
    """The reshape + GEMM path reads the Conv3d's weights and gives its tokens and gradients (video and image)."""
    torch.manual_seed(0)
    pe = TubeletEmbed(3, 16, tubelet_size=2, patch_size=8)
    x = torch.randn(2, 3, frames, 16, 24, requires_grad=True)
    out = {}
    for impl in ("gemm", "conv"):
        pe.impl = impl
        tokens, grid = pe(x)
        grads = torch.autograd.grad(tokens.square().sum(), [x, pe.proj.weight, pe.proj.bias])
        out[impl] = (tokens, grid, grads)
    torch.testing.assert_close(out["gemm"][0], out["conv"][0], atol=1e-5, rtol=1e-5)
    assert out["gemm"][1] == out["conv"][1] and out["gemm"][0].is_contiguous()
    for a, b in zip(out["gemm"][2], out["conv"][2]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert set(pe.state_dict()) == {"proj.weight", "proj.bias"}


def test_auto_uses_gemm_on_cpu_and_rejects_unknown_impl():
    pe = TubeletEmbed(3, 8, tubelet_size=2, patch_size=4)
    pe.proj.forward = None  # the CPU path must not call the Conv3d module
    assert pe(torch.randn(1, 3, 2, 8, 8))[0].shape == (1, 4, 8)
    with pytest.raises(ValueError, match="valid: auto, gemm, conv"):
        TubeletEmbed(impl="fft")
