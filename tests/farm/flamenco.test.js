// The Flamenco job type farm/flamenco/onnx-postprocess.js, compiled with the stand-in of Flamenco 3.8's
// job compiler runtime (flamenco_standin.js). Run by tests/farm/test_flamenco.py: `node --test` on this file.

"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const nodePath = require("node:path");
const standin = require("./flamenco_standin.js");

const JOB_FILE = nodePath.join(__dirname, "..", "..", "farm", "flamenco", "onnx-postprocess.js");
// Values made inside the job type's VM context have that context's prototypes: compare them as plain data.
const plain = (value) => JSON.parse(JSON.stringify(value));
const LAUNCHER = "import sys; sys.path.insert(0, sys.argv.pop(1)); from engine.cli import main; sys.exit(main())";

// What the Flamenco add-on submits for a 1-250 shot: the evaluated settings, then what the artist set.
const SUBMITTED = {
    frames: "1-250",
    chunk_size: 10,
    render_output_root: "/shared/render",
    add_path_components: 0,
    render_output_path: "/shared/render/shot/{timestamp}/######",
    output_pattern: "/shared/render/shot/{timestamp}_onnx/######.exr",
    model: "/shared/models/denoise.onnx",
    precision: "fp16",
    blendfile: "/shared/shot.blend",
    format: "OPEN_EXR",
    image_file_extension: ".exr",
    scene: "Scene",
};
const CREATED = new Date(2026, 10, 28, 9, 30, 0);
const STAMP = "2026-11-28_093000";

test("JOB_TYPE settings follow Flamenco's AvailableJobSetting schema", () => {
    const { JOB_TYPE } = standin.loadJobType(JOB_FILE);
    assert.equal(typeof JOB_TYPE.label, "string");
    const keys = JOB_TYPE.settings.map((s) => s.key);
    assert.equal(new Set(keys).size, keys.length, "keys are unique");
    for (const key of ["frames", "chunk_size", "model", "precision", "input_pattern", "output_pattern", "blendfile"]) {
        assert.ok(keys.includes(key), key);
    }
    for (const s of JOB_TYPE.settings) {
        assert.ok(["string", "int32", "float", "bool"].includes(s.type), `${s.key}: type ${s.type}`);
        if (s.subtype) assert.ok(["file_path", "dir_path", "file_name", "hashed_file_path"].includes(s.subtype));
        if (s.visible) assert.ok(["visible", "hidden", "submission", "web"].includes(s.visible), s.key);
        if (s.choices) assert.equal(s.type, "string", `${s.key}: choices only on strings`);
        if (s.evalInfo) {
            assert.equal(typeof s.eval, "string", `${s.key}: evalInfo needs eval`);
            assert.equal(typeof s.evalInfo.showLinkButton, "boolean");
            assert.equal(typeof s.evalInfo.description, "string");
        }
    }
    const byKey = Object.fromEntries(JOB_TYPE.settings.map((s) => [s.key, s]));
    assert.equal(byKey.frames.eval, "f'{C.scene.frame_start}-{C.scene.frame_end}'");
    assert.match(byKey.output_pattern.eval, /'\{timestamp\}_onnx', '######\.exr'/);
    assert.equal(byKey.chunk_size.default, 10);
    assert.deepEqual(plain(byKey.precision.choices), ["auto", "fp16", "amp", "fp32"]);
});

test("1-250 in chunks of 10: 25 render tasks, each followed by its post-process task", () => {
    const job = standin.compile(JOB_FILE, SUBMITTED, { created: CREATED });
    assert.equal(job.tasks.length, 50);
    const renders = job.tasks.filter((t) => t.type == "blender");
    const posts = job.tasks.filter((t) => t.type == "onnx-gpu");
    assert.equal(renders.length, 25);
    assert.equal(posts.length, 25);
    for (let i = 0; i < 25; i++) {
        const chunk = `${i * 10 + 1}-${i * 10 + 10}`;
        const render = renders[i];
        const post = posts[i];
        assert.equal(render.name, `render-${chunk}`);
        assert.equal(post.name, `onnx-${chunk}`);
        assert.equal(job.tasks.indexOf(post), job.tasks.indexOf(render) + 1);
        assert.equal(render.dependencies.length, 0);
        assert.equal(post.dependencies.length, 1);
        assert.equal(post.dependencies[0].uuid, render.uuid, `${post.name} depends on ${render.name}`);

        assert.equal(render.commands.length, 1);
        const rc = render.commands[0];
        assert.equal(rc.name, "blender-render");
        assert.equal(rc.totalStepCount, 10);
        assert.equal(rc.parameters.exe, "{blender}");
        assert.equal(rc.parameters.exeArgs, "{blenderArgs}");
        assert.equal(rc.parameters.blendfile, "/shared/shot.blend");
        const args = rc.parameters.args;
        assert.deepEqual(plain(args.slice(0, 3)), ["--scene", "Scene", "--python-expr"]);
        assert.deepEqual(plain(args.slice(4)), [
            "--render-output", `/shared/render/shot/${STAMP}/######`,
            "--render-format", "OPEN_EXR",
            "--render-frame", `${i * 10 + 1}..${i * 10 + 10}`,
        ]);

        assert.equal(post.commands.length, 1);
        const pc = post.commands[0];
        assert.equal(pc.name, "exec");
        assert.equal(pc.parameters.exe, "{onnx_python}");
        assert.deepEqual(plain(pc.parameters.args), [
            "-c", LAUNCHER, "{onnx_engine_dir}",
            "sequence", "/shared/models/denoise.onnx",
            "--input", `/shared/render/shot/${STAMP}/######.exr`,
            "--output", `/shared/render/shot/${STAMP}_onnx/######.exr`,
            "--frames", chunk,
            "--skip-existing",
            "--precision", "fp16",
            "--require-gpu",
        ]);
    }
    assert.equal(job.settings.input_pattern, `/shared/render/shot/${STAMP}/######.exr`);
    assert.equal(job.settings.render_output_path, `/shared/render/shot/${STAMP}/######`);
});

test("the render tasks switch off the in-Blender post-process", () => {
    const job = standin.compile(JOB_FILE, SUBMITTED, { created: CREATED });
    const expr = job.tasks[0].commands[0].parameters.args[3];
    assert.match(expr, /setattr\(s\.onnx_image_runtime, 'postprocess', False\)/);
    assert.ok(!/[{}]/.test(expr), "no braces: the Manager would take them for variables");
});

test("options: cache folder, no GPU requirement, another task type, uneven chunks", () => {
    const job = standin.compile(JOB_FILE, {
        ...SUBMITTED, frames: "1-5,9", chunk_size: 2, cache_dir: "/shared/onnx_cache", require_gpu: false,
        post_task_type: "onnx", python: "/opt/py/bin/python3", engine_dir: "/opt/onnx_image_runtime",
    }, { created: CREATED });
    const posts = job.tasks.filter((t) => t.type == "onnx");
    assert.deepEqual(posts.map((t) => t.name), ["onnx-1,2", "onnx-3,4", "onnx-5,9"]);
    const args = posts[2].commands[0].parameters.args;
    assert.equal(posts[2].commands[0].parameters.exe, "/opt/py/bin/python3");
    assert.equal(args[2], "/opt/onnx_image_runtime");
    assert.deepEqual(plain(args.slice(-4)), ["--precision", "fp16", "--cache-dir", "/shared/onnx_cache"]);
    assert.ok(!args.includes("--require-gpu"));
    const renders = job.tasks.filter((t) => t.type == "blender");
    assert.equal(renders[2].commands[0].parameters.args.at(-1), "5,9");
    assert.equal(renders[2].commands[0].totalStepCount, 2);
});

test("bad jobs are refused", () => {
    assert.throws(() => standin.compile(JOB_FILE, { ...SUBMITTED, model: "" }), /no model/);
    assert.throws(() => standin.compile(JOB_FILE, { ...SUBMITTED, format: "FFMPEG" }), /image sequences/);
    assert.throws(
        () => standin.compile(JOB_FILE, { ...SUBMITTED, output_pattern: "/shared/render/shot/{timestamp}/######.exr" }),
        /overwrite/,
    );
});

test("the stand-in's frameChunker and job.addTask behave as Flamenco's", () => {
    assert.deepEqual(standin.frameChunker("1-10", 4), ["1-4", "5-8", "9,10"]);
    assert.deepEqual(standin.frameChunker("3, 5..7, 47", 10), ["3,5-7,47"]);
    assert.equal(standin.frameCount("1-250"), 250);
    const job = new standin.AuthoredJob({});
    const a = standin.author.Task("a", "misc");
    const b = standin.author.Task("b", "misc");
    job.addTask(b);
    b.addDependency(a); // too late: the job has its own copy
    assert.deepEqual(job.tasks[0].dependencies, []);
    assert.throws(() => standin.author.Task(" ", "misc"), /name is required/);
});
