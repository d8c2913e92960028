// SPDX-License-Identifier: GPL-3.0-or-later
//
// Flamenco 3 job type "onnx-postprocess" (ONNX Image Runtime): render a .blend in chunks, and after each
// chunk run an ONNX image model on its frames in a task of its own, on the workers that take the
// "onnx-gpu" task type. Install: copy this file into the `scripts` folder next to `flamenco-manager`
// and define the Manager variables in flamenco-manager.yaml (docs/farm.md, section 2): `onnx_engine`, the
// installed `onnx-image-runtime` command of the engine's wheel (setting engine = "command"), or
// `onnx_python` and `onnx_engine_dir`, a Python and a folder holding engine/ (engine = "python", the
// default, as before the wheel existed).
//
// Written against the job compiler API of Flamenco 3.9 (author.Task, author.Command with a step count,
// task.addCommand, task.addDependency, job.addTask, frameChunker, frameCount, formatTimestampLocal).
// Since 3.9 the job type, not the Blender add-on, sets the render output options: the render tasks do.
// The script uses only what goja (Flamenco's JavaScript VM) has: no console, no `??` or `?.`.

// The engine's --working-space choices. Blender 5 stores a working colour space per file and renders in
// it; Blender 4.x has none: its renders are linear Rec.709.
const workingSpaces = ["rec709", "rec2020", "acescg"];

// Evaluated by the Flamenco add-on in the submitting Blender (eval(expr, {}, {"bpy": bpy, "C": context,
// ...})): the file's working space by its Color Interop Forum id, which stays the same when an OCIO config
// renames the space. Blender 4.2-4.5 have no bpy.data.colorspace: the getattr fallbacks give rec709 there.
// A space the engine cannot convert (a custom config) evaluates to its own name, which compileJob refuses
// with a message that names it: run as rec709, the model would get the wrong colours without a word.
// One expression, no comprehension: with separate globals and locals, a comprehension in eval() cannot
// see `bpy` on Python 3.11, which Blender 4.2 to 5.0 bundle.
const workingSpaceEval =
    "{'lin_rec709_scene': 'rec709', 'lin_rec2020_scene': 'rec2020', 'lin_ap1_scene': 'acescg'}.get(" +
    "getattr(getattr(bpy.data, 'colorspace', None), 'working_space_interop_id', 'lin_rec709_scene'), " +
    "str(getattr(getattr(bpy.data, 'colorspace', None), 'working_space', '')) or 'unnamed')";

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
          description: "Where the rendered frames go (OpenEXR; the render tasks add the .exr extension)" },

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
        // Set when the job is compiled. A read-only setting needs an `eval` or a `default`: the add-on's
        // getter for it returns one of them, and with neither it raises on every submission.
        { key: "input_pattern", type: "string", subtype: "file_path", editable: false, default: "", visible: "web",
          description: "The rendered frames the model reads (set from the render output when the job is compiled)" },
        { key: "require_gpu", type: "bool", default: true, visible: "submission",
          description: "Fail a post-process task at once (exit status 4) on a worker where CUDA cannot run the model" },
        { key: "post_task_type", type: "string", default: "onnx-gpu", visible: "submission",
          description: "Task type of the post-process tasks: list it in the task_types of the GPU workers only" },
        // The colour space of the rendered pixels: the submitted file's working space (Blender 5), converted
        // by the engine to linear Rec.709 for the model and back. See workingSpaceEval.
        { key: "working_space", type: "string", default: "rec709", choices: workingSpaces,
          eval: workingSpaceEval,
          evalInfo: { showLinkButton: true, description: "The working colour space of the file (Blender 4.x: rec709)" },
          description: "Working colour space of the rendered frames (the engine's --working-space)" },
        // How a worker starts the engine. "command": the engine's wheel installed on the workers, its
        // console command given by the Manager variable onnx_engine. "python": a Python with the engine's
        // requirements and a folder holding engine/ (a checkout or the extension's folder), the variables
        // onnx_python and onnx_engine_dir. "python" stays the default: a Manager set up for this job type
        // before the wheel existed has no onnx_engine variable, and its jobs would fail on every worker.
        { key: "engine", type: "string", default: "python", choices: ["python", "command"], visible: "submission",
          description: "How the workers run the engine: 'command' runs the installed onnx-image-runtime " +
              "(variable onnx_engine); 'python' runs engine/ from a folder (variables onnx_python, onnx_engine_dir)" },
        { key: "engine_command", type: "string", default: "{onnx_engine}", visible: "submission",
          description: "With engine 'command': the onnx-image-runtime command on the workers (default: the Manager variable onnx_engine)" },
        { key: "python", type: "string", default: "{onnx_python}", visible: "submission",
          description: "With engine 'python': Python with the engine's requirements on the workers (default: the Manager variable onnx_python)" },
        { key: "engine_dir", type: "string", default: "{onnx_engine_dir}", visible: "submission",
          description: "With engine 'python': the folder holding engine/ on the workers (default: the Manager variable onnx_engine_dir)" },
        { key: "cache_dir", type: "string", subtype: "dir_path", default: "", visible: "submission",
          description: "Shared cache of prepared models (empty: each worker's own cache)" },

        // Filled in by the Flamenco add-on from the file being submitted.
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "Path of the Blend file to render" },
        { key: "format", type: "string", required: true, eval: "C.scene.render.image_settings.file_format",
          visible: "web", description: "The scene's output format: a multilayer EXR stays one, others render OpenEXR" },
        { key: "scene", type: "string", required: true, eval: "C.scene.name", visible: "web",
          description: "Name of the scene to render" },
    ],
};

const videoFormats = ["FFMPEG", "AVI_RAW", "AVI_JPEG"];

// The render output the post-process reads: OpenEXR (full float, scene-linear, as the extension's own
// in-Blender post-process reads the render). A multilayer EXR stays multilayer, for its passes.
const exrFormats = ["OPEN_EXR", "OPEN_EXR_MULTILAYER"];
const renderExtension = ".exr";

// The render output options that Flamenco 3.9 moved from the add-on into the job types, set by each
// render task (the .blend keeps its own): the file extension on, so frames are written as ######.exr
// whatever the .blend says; no overwrite, so a re-queued task keeps the frames it already wrote; no
// placeholders, so the post-process never reads an empty placeholder file as a frame. The render tasks
// also leave the post-processing to the post-process tasks (on GPU workers), even when the .blend has
// the extension's "ONNX Post-Process" ticked. No braces: the Manager would read them as variables.
const renderOverrides = [
    "import bpy",
    "r = bpy.context.scene.render",
    "r.use_file_extension = True",
    "r.use_overwrite = False",
    "r.use_placeholder = False",
    "[setattr(s.onnx_image_runtime, 'postprocess', False) for s in bpy.data.scenes if hasattr(s, 'onnx_image_runtime')]",
].join("; ");

// `python -c` entry point for engine "python": the engine folder comes first, then the engine's own
// command line (the exec command has no working-directory or environment parameter, so `python -m engine`
// cannot find it). Engine "command" needs none of this: the wheel's console command is the same CLI.
const engineLauncher =
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from engine.cli import main; sys.exit(main())";

// The Manager passes job.settings as submitted: a setting that was left out is absent, not its default.
// An absent (or empty) setting takes the default from JOB_TYPE, so the defaults live in one place.
function setting(settings, key) {
    const value = settings[key];
    if (value !== undefined && value !== null && value !== "") {
        return value;
    }
    for (const s of JOB_TYPE.settings) {
        if (s.key == key) {
            return s.default;
        }
    }
    throw `job type bug: no setting "${key}"`;
}

function compileJob(job) {
    const settings = job.settings;
    const sceneFormat = setting(settings, "format");
    if (videoFormats.indexOf(sceneFormat) >= 0) {
        throw `This job type renders image sequences, not "${sceneFormat}"`;
    }
    if (!setting(settings, "model")) {
        throw "no model: choose the .onnx model in the job settings";
    }
    checkChoice(settings, "engine");
    const workingSpace = setting(settings, "working_space");
    if (workingSpaces.indexOf(workingSpace) < 0) {
        throw `working_space "${workingSpace}": the file's working colour space is not one the engine converts ` +
            `(${workingSpaces.join(", ")}); set the file to Linear Rec.709, Linear Rec.2020 or ACEScg`;
    }
    const renderFormat = exrFormats.indexOf(sceneFormat) >= 0 ? sceneFormat : "OPEN_EXR";
    const renderOutput = withTimestamp(job, setting(settings, "render_output_path"), "render_output_path");
    const outputPattern = withTimestamp(job, setting(settings, "output_pattern"), "output_pattern");
    const inputPattern = renderOutput + renderExtension;
    if (inputPattern == outputPattern) {
        throw "output_pattern would overwrite the rendered frames; choose another output";
    }
    // Show the values actually used when the job is inspected later.
    settings.render_output_path = renderOutput;
    settings.output_pattern = outputPattern;
    settings.input_pattern = inputPattern;

    for (const chunk of frameChunker(setting(settings, "frames"), setting(settings, "chunk_size"))) {
        const renderTask = authorRenderTask(settings, renderOutput, renderFormat, chunk);
        const postTask = authorPostTask(settings, inputPattern, outputPattern, chunk);
        postTask.addDependency(renderTask); // before job.addTask(): the job keeps a copy of the task
        job.addTask(renderTask);
        job.addTask(postTask);
    }
}

// The Manager does not check a submitted value against the setting's choices: a script (or a typo) can send
// any string, and the job is refused here rather than compiled into tasks that fail on the workers.
function checkChoice(settings, key) {
    const value = setting(settings, key);
    for (const s of JOB_TYPE.settings) {
        if (s.key == key && s.choices.indexOf(value) < 0) {
            throw `${key} "${value}" is not one of ${s.choices.join(", ")}`;
        }
    }
}

function withTimestamp(job, value, key) {
    if (!value) {
        throw `no ${key} setting`;
    }
    return value.replace(/{([^}]+)}/g, (match, name) => (name == "timestamp" ? formatTimestampLocal(job.created) : match));
}

function authorRenderTask(settings, renderOutput, renderFormat, chunk) {
    const task = author.Task(`render-${chunk}`, "blender");
    let args = [];
    if (settings.scene) {
        args = args.concat(["--scene", settings.scene]);
    }
    // Blender runs its arguments in order: the overrides, output and format come before the frames.
    // The output path is passed as it is: path.join would clean a leading "//" away.
    args = args.concat([
        "--python-expr", renderOverrides,
        "--render-output", renderOutput,
        "--render-format", renderFormat,
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

// The engine's `sequence` command line, the same for both ways of starting the engine.
function sequenceArgs(settings, inputPattern, outputPattern, chunk) {
    let args = [
        "sequence", setting(settings, "model"),
        "--input", inputPattern,
        "--output", outputPattern,
        "--frames", chunk,
        "--skip-existing",
        "--precision", setting(settings, "precision"),
    ];
    const cacheDir = setting(settings, "cache_dir");
    if (cacheDir) {
        args = args.concat(["--cache-dir", cacheDir]);
    }
    if (setting(settings, "require_gpu")) {
        args.push("--require-gpu");
    }
    // rec709 is the engine's default: the flag is left out, so an engine from before --working-space
    // still runs the jobs of Blender 4.x files and Rec.709 Blender 5 files.
    const workingSpace = setting(settings, "working_space");
    if (workingSpace != "rec709") {
        args = args.concat(["--working-space", workingSpace]);
    }
    return args;
}

// The exec command: exe and args, each argument passed as it is (no shell), the Manager's {variables}
// replaced per worker platform when the task is handed to a worker.
function postProcessCommand(settings, inputPattern, outputPattern, chunk) {
    const sequence = sequenceArgs(settings, inputPattern, outputPattern, chunk);
    if (setting(settings, "engine") == "command") {
        return { exe: setting(settings, "engine_command"), args: sequence };
    }
    return {
        exe: setting(settings, "python"),
        args: ["-c", engineLauncher, setting(settings, "engine_dir")].concat(sequence),
    };
}

function authorPostTask(settings, inputPattern, outputPattern, chunk) {
    const task = author.Task(`onnx-${chunk}`, setting(settings, "post_task_type"));
    task.addCommand(author.Command("exec", postProcessCommand(settings, inputPattern, outputPattern, chunk)));
    return task;
}
