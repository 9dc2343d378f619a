#!/usr/bin/env python3
"""Fine-tunes a BLIP captioning checkpoint on your own captions and writes a checkpoint that
imgcap loads (`imgcap-inference check-model OUT` checks it).

Input: the web app's dataset export (unzip it; `--data` is the folder holding `metadata.jsonl`,
or the folder above `train/`), any Hugging Face `imagefolder` with `metadata.jsonl`
(`file_name` + a caption column, `text` by default), or a COCO captions file (`--coco`: its
`images` and `annotations`, one training example per caption).

Full fine-tuning by default; `--lora` trains low-rank adapters on the text decoder's attention
(peft) and merges them into the weights before saving, so the output is a plain BLIP checkpoint.
The output holds `model.safetensors`, `config.json`, the tokenizer and the preprocessor config.

    pip install -r scripts/requirements-finetune.txt
    python3 scripts/finetune_blip.py --base Salesforce/blip-image-captioning-base \\
        --data imgcap-dataset --out blip-finetuned --epochs 3 --lora
"""
import argparse
import json
import pathlib
import random
import sys


def examples_from_imagefolder(folder, column):
    folder = pathlib.Path(folder)
    if not (folder / "metadata.jsonl").exists() and (folder / "train" / "metadata.jsonl").exists():
        folder = folder / "train"
    metadata = folder / "metadata.jsonl"
    if not metadata.exists():
        sys.exit(f"error: no metadata.jsonl in {folder} (unzip the dataset export first)")
    examples = []
    for number, line in enumerate(metadata.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if column not in row or "file_name" not in row:
            sys.exit(f"error: {metadata} line {number} has no `file_name` or `{column}`")
        examples.append((folder / row["file_name"], row[column]))
    return examples


def examples_from_coco(path):
    path = pathlib.Path(path)
    coco = json.loads(path.read_text())
    files = {image["id"]: path.parent / image["file_name"] for image in coco["images"]}
    return [(files[a["image_id"]], a["caption"]) for a in coco["annotations"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="checkpoint directory or hub id to start from")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="imagefolder with metadata.jsonl (the web app's dataset export)")
    source.add_argument("--coco", help="COCO captions file")
    parser.add_argument("--caption-column", default="text", help="metadata.jsonl column to train on")
    parser.add_argument("--out", required=True, help="directory to write the checkpoint to")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters, merged into the output")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from PIL import Image
    from transformers import BlipForConditionalGeneration, BlipProcessor

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    examples = (examples_from_coco(args.coco) if args.coco
                else examples_from_imagefolder(args.data, args.caption_column))
    if not examples:
        sys.exit("error: no training examples")
    processor = BlipProcessor.from_pretrained(args.base)
    model = BlipForConditionalGeneration.from_pretrained(args.base)
    if args.lora:
        from peft import LoraConfig, get_peft_model
        lora = LoraConfig(r=args.lora_rank, lora_alpha=2 * args.lora_rank, lora_dropout=0.05,
                          target_modules=["query", "value"])
        model = get_peft_model(model, lora)
        model.print_trainable_parameters()
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    bos = model.config.text_config.bos_token_id
    pad = processor.tokenizer.pad_token_id
    step = 0
    for epoch in range(args.epochs):
        random.shuffle(examples)
        for start in range(0, len(examples), args.batch_size):
            batch = examples[start:start + args.batch_size]
            images = [Image.open(path).convert("RGB") for path, _ in batch]
            inputs = processor(images=images, text=[caption for _, caption in batch],
                               padding=True, return_tensors="pt")
            input_ids = inputs["input_ids"].clone()
            # Generation starts from [BOS] (BLIP replaces [CLS]); train on the same prefix.
            input_ids[:, 0] = bos
            labels = input_ids.masked_fill(input_ids == pad, -100)
            loss = model(pixel_values=inputs["pixel_values"], input_ids=input_ids,
                         attention_mask=inputs["attention_mask"], labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            print(f"epoch {epoch + 1} step {step}: loss {loss.item():.4f}", flush=True)
            if args.max_steps and step >= args.max_steps:
                break
        if args.max_steps and step >= args.max_steps:
            break
    if args.lora:
        model = model.merge_and_unload()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    # transformers 5 folds the image settings into processor_config.json; write them where
    # BLIP checkpoints (and imgcap's loader) keep them too.
    processor.image_processor.save_pretrained(out)
    print(f"wrote {out} ({step} steps on {len(examples)} examples); check it with: "
          f"imgcap-inference check-model {out}")


if __name__ == "__main__":
    main()
