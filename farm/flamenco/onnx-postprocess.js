// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco 3 job type "onnx-postprocess" (ONNX Image Runtime): render a .blend in chunks, and after each
// chunk run an ONNX image model on its frames in a task of its own, on the workers that take the
// "onnx-gpu" task type. Install: copy this file into the `scripts` folder next to `flamenco-manager`
// and define the variables `onnx_python` and `onnx_engine_dir` in flamenco-manager.yaml (docs/farm.md).
//
// Written against the job compiler API of Flamenco 3.8 (author.Task, author.Command with a step count,
// task.addCommand, task.addDependency, job.addTask, frameChunker, frameCount, path, formatTimestampLocal).

const JOB_TYPE = {
    label: "Render + ONNX Post-Process",
    description: "Render frames with Blender, then run an ONNX image model on each chunk (ONNX Image Runtime)",
    settings: [
        // Rendering, as the stock Simple Blender Render job type does it.
        { key: "frames", type: "string", required: true,
          eval: "f'{C.scene.frame_start}-{C.scene.frame_end}'",
          evalInfo: { showLinkButton: true, description: "Scene frame range" },
          description: "Frames to render and post-process. Examples: '47', '1-30', '3, 5-10, 47-327'" },
        { key: "chunk_size", type: "int32", default: 10, propargs: { min: 1 }, visible: "submission",
          description: "Frames per render task; each render task is followed by one post-process task" },
        { key: "render_output_root", type: "string", subtype: "dir_path", required: true, visible: "submission",
          description: "Base directory of the render output; job-specific parts are appended to it" },
        { key: "add_path_components", type: "int32", required: true, default: 0, propargs: { min: 0, max: 32 },
          visible: "submission",
          description: "Number of path components of the current blend file to use in the render output path" },
        { key: "render_output_path", type: "string", subtype: "file_path", editable: false,
          eval: "str(Path(abspath(settings.render_output_root), last_n_dir_parts(settings.add_path_components), jobname, '{timestamp}', '######'))",
          description: "Where the rendered frames go" },

        // The ONNX post-process.
        { key: "model", type: "string", subtype: "file_path", required: true,
          eval: "str(abspath(bpy.path.abspath(C.scene.onnx_image_runtime.model_path))) if getattr(C.scene, 'onnx_image_runtime', None) and C.scene.onnx_image_runtime.model_path else ''",
          evalInfo: { showLinkButton: true, description: "The model of the scene's ONNX settings" },
          description: "The .onnx image model, on the shared storage" },
        { key: "precision", type: "string", default: "auto", choices: ["auto", "fp16", "amp", "fp32"],
          description: "Precision of the prepared model (the engine's --precision)" },
        { key: "output_pattern", type: "string", subtype: "file_path", required: true,
          eval: "str(Path(abspath(settings.render_output_root), last_n_dir_parts(settings.add_path_components), jobname, '{timestamp}_onnx', '######.exr'))",
          evalInfo: { showLinkButton: true, description: "A sibling folder of the render output, '_onnx' appended" },
          description: "Where the post-processed frames go, '#' for the frame digits" },
        { key: "input_pattern", type: "string", subtype: "file_path", editable: false, visible: "web",
          description: "The rendered frames the model reads (set from the render output when the job is compiled)" },
        { key: "require_gpu", type: "bool", default: true, visible: "submission",
          description: "Fail a post-process task at once (exit status 4) on a worker where CUDA cannot run the model" },
        { key: "post_task_type", type: "string", default: "onnx-gpu", visible: "submission",
          description: "Task type of the post-process tasks: list it in the task_types of the GPU workers only" },
        { key: "python", type: "string", default: "{onnx_python}", visible: "submission",
          description: "Python with the engine's requirements on the workers (default: the Manager variable onnx_python)" },
        { key: "engine_dir", type: "string", default: "{onnx_engine_dir}", visible: "submission",
          description: "The folder holding engine/ on the workers (default: the Manager variable onnx_engine_dir)" },
        { key: "cache_dir", type: "string", subtype: "dir_path", default: "", visible: "submission",
          description: "Shared cache of prepared models (empty: each worker's own cache)" },

        // Filled in by the Flamenco add-on from the file being submitted.
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "Path of the Blend file to render" },
        { key: "format", type: "string", required: true, eval: "C.scene.render.image_settings.file_format",
          visible: "web" },
        { key: "image_file_extension", type: "string", required: true, eval: "C.scene.render.file_extension",
          visible: "hidden", description: "File extension of the rendered frames" },
        { key: "scene", type: "string", required: true, eval: "C.scene.name", visible: "web",
          description: "Name of the scene to render" },
    ],
};

const videoFormats = ["FFMPEG", "AVI_RAW", "AVI_JPEG"];

// The render tasks leave the post-processing to the post-process tasks (on GPU workers), even when the
// .blend has the extension's "ONNX Post-Process" ticked.
const noInlinePostProcess =
    "import bpy; [setattr(s.onnx_image_runtime, 'postprocess', False) for s in bpy.data.scenes if hasattr(s, 'onnx_image_runtime')]";

// `python -c` entry point: the engine folder comes first, then the engine's own command line (the
// exec command has no working-directory or environment parameter, so `python -m engine` cannot find it).
const engineLauncher =
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from engine.cli import main; sys.exit(main())";

function compileJob(job) {
    const settings = job.settings;
    if (videoFormats.indexOf(settings.format) >= 0) {
        throw `This job type renders image sequences, not "${settings.format}"`;
    }
    if (!settings.model) {
        throw "no model: choose the .onnx model in the job settings";
    }
    const renderOutput = withTimestamp(job, settings.render_output_path, "render_output_path");
    const outputPattern = withTimestamp(job, settings.output_pattern, "output_pattern");
    const inputPattern = renderOutput + (settings.image_file_extension || ".exr");
    if (inputPattern == outputPattern) {
        throw "output_pattern would overwrite the rendered frames; choose another output";
    }
    // Show the values actually used when the job is inspected later.
    settings.render_output_path = renderOutput;
    settings.output_pattern = outputPattern;
    settings.input_pattern = inputPattern;

    const chunkSize = settings.chunk_size || 10;
    for (const chunk of frameChunker(settings.frames, chunkSize)) {
        const renderTask = authorRenderTask(settings, renderOutput, chunk);
        const postTask = authorPostTask(settings, inputPattern, outputPattern, chunk);
        postTask.addDependency(renderTask); // before job.addTask(): the job keeps a copy of the task
        job.addTask(renderTask);
        job.addTask(postTask);
    }
}

function withTimestamp(job, value, key) {
    if (!value) {
        throw `no ${key} setting`;
    }
    return value.replace(/{([^}]+)}/g, (match, name) => (name == "timestamp" ? formatTimestampLocal(job.created) : match));
}

function authorRenderTask(settings, renderOutput, chunk) {
    const task = author.Task(`render-${chunk}`, "blender");
    let args = [];
    if (settings.scene) {
        args = args.concat(["--scene", settings.scene]);
    }
    args = args.concat([
        "--python-expr", noInlinePostProcess,
        "--render-output", path.join(path.dirname(renderOutput), path.basename(renderOutput)),
        "--render-format", settings.format,
        "--render-frame", chunk.replaceAll("-", ".."), // Blender's frame range notation
    ]);
    task.addCommand(author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",
        argsBefore: [],
        blendfile: settings.blendfile,
        args: args,
    }, frameCount(chunk)));
    return task;
}

function postProcessArgs(settings, inputPattern, outputPattern, chunk) {
    let args = [
        "-c", engineLauncher, settings.engine_dir || "{onnx_engine_dir}",
        "sequence", settings.model,
        "--input", inputPattern,
        "--output", outputPattern,
        "--frames", chunk,
        "--skip-existing",
        "--precision", settings.precision || "auto",
    ];
    if (settings.cache_dir) {
        args = args.concat(["--cache-dir", settings.cache_dir]);
    }
    if (settings.require_gpu !== false) {
        args.push("--require-gpu");
    }
    return args;
}

function authorPostTask(settings, inputPattern, outputPattern, chunk) {
    const task = author.Task(`onnx-${chunk}`, settings.post_task_type || "onnx-gpu");
    task.addCommand(author.Command("exec", {
        exe: settings.python || "{onnx_python}",
        args: postProcessArgs(settings, inputPattern, outputPattern, chunk),
    }));
    return task;
}
