// Task data files: one safetensors file per task and split, `images` U8 [N, 784] (grey levels) and
// `labels` U8 [N], so the same reader (and its validation) serves weights and data.
import { fail } from '../errors.ts';
import { SafetensorsFile } from '../io/safetensors-reader.ts';
import { writeSafetensorsFile } from '../io/safetensors-writer.ts';
import { PIXELS, type Digits } from './mnist-data.ts';

export function writeTaskData(file: string, d: Digits, metadata: Record<string, string> = {}): void {
  writeSafetensorsFile(
    file,
    [
      { name: 'images', dtype: 'U8', shape: [d.count, PIXELS], data: d.images },
      { name: 'labels', dtype: 'U8', shape: [d.count], data: d.labels },
    ],
    { format: 'mergesearch-task-data', ...metadata },
  );
}

export function readTaskData(file: string, numClasses = 10): Digits {
  const f = SafetensorsFile.open(file);
  try {
    const img = f.tensors.get('images');
    const lab = f.tensors.get('labels');
    if (!img || !lab) fail('IO_E_NO_TENSOR', `${file} must hold tensors images and labels (a task data file)`);
    if (img.dtype !== 'U8' || lab.dtype !== 'U8') fail('IO_E_DTYPE', `${file}: images and labels must be U8, got ${img.dtype} and ${lab.dtype}`);
    const [n, width] = img.shape;
    if (img.shape.length !== 2 || width !== PIXELS || lab.shape.length !== 1 || lab.shape[0] !== n) {
      fail('MERGE_E_SHAPE', `${file}: images are ${JSON.stringify(img.shape)} and labels ${JSON.stringify(lab.shape)}; expected [N, ${PIXELS}] and [N]`);
    }
    const images = new Uint8Array(f.readRaw('images'));
    const labels = new Uint8Array(f.readRaw('labels'));
    const bad = labels.findIndex((l) => l >= numClasses);
    if (bad >= 0) fail('IO_E_HEADER', `${file}: label ${labels[bad]} of sample ${bad} is not below ${numClasses}`);
    return { images, labels, count: n! };
  } finally {
    f.close();
  }
}

/**
 * Grey levels to network inputs in [-1, 1]: centred, so colour inversion is a sign flip rather
 * than a large offset on every pixel (which plain SGD learns far more slowly).
 */
export function toInputs(images: Uint8Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = images[i]! / 127.5 - 1;
  return out;
}
