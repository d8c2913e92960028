// The Flamenco job type farm/flamenco/onnx-postprocess.js, compiled with the stand-in of Flamenco 3.9's
// job compiler runtime (flamenco_standin.js), and the stand-in itself held to what the real runtime
// does. Run by tests/farm/test_flamenco.py: `node --test` on this file.

"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const nodePath = require("node:path");
const standin = require("./flamenco_standin.js");

const JOB_FILE = nodePath.join(__dirname, "..", "..", "farm", "flamenco", "onnx-postprocess.js");
// Values made inside the job type's VM have that VM's prototypes: compare them as plain data.
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
    scene: "Scene",
};
const CREATED = new Date(2026, 10, 28, 9, 30, 0);
const STAMP = "2026-11-28_093000"; // formatTimestampLocal's Go layout "2006-01-02_150405" of CREATED

const jobType = () => standin.loadJobType(JOB_FILE).JOB_TYPE;
const settingsByKey = () => Object.fromEntries(jobType().settings.map((s) => [s.key, s]));
const renderArgs = (job) => plain(job.tasks.find((t) => t.type == "blender").commands[0].parameters.args);
const argAfter = (args, flag) => args[args.indexOf(flag) + 1];

// ---- The job type -----------------------------------------------------------------------------------

test("JOB_TYPE settings follow Flamenco's AvailableJobSetting schema and the add-on's rules", () => {
    const JOB_TYPE = jobType();
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
        if (s.choices) {
            assert.equal(s.type, "string", `${s.key}: choices only on strings`);
            assert.ok(s.choices.includes(s.default), `${s.key}: the default is one of the choices`);
        }
        if (s.evalInfo) {
            assert.equal(typeof s.eval, "string", `${s.key}: evalInfo needs eval`);
            assert.equal(typeof s.evalInfo.showLinkButton, "boolean");
            assert.equal(typeof s.evalInfo.description, "string");
        }
        // The add-on (job_types_propgroup.py, _create_prop_getter) gives a read-only setting a getter that
        // returns its eval, else its default: with neither, reading it raises on every submission.
        if (s.editable === false) {
            assert.ok(typeof s.eval == "string" || s.default !== undefined, `${s.key}: read-only, no eval or default`);
        }
        // The add-on makes a bpy property with the default: it must have the setting's type.
        if (s.default !== undefined) {
            const want = { string: "string", int32: "number", float: "number", bool: "boolean" }[s.type];
            assert.equal(typeof s.default, want, `${s.key}: default of type ${s.type}`);
        }
    }
    const byKey = settingsByKey();
    assert.equal(byKey.frames.eval, "f'{C.scene.frame_start}-{C.scene.frame_end}'");
    assert.match(byKey.output_pattern.eval, /'\{timestamp\}_onnx', '######\.exr'/);
    assert.equal(byKey.input_pattern.default, "");
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
        // uUID: Flamenco's AuthoredTask.UUID as the script sees it. The stand-in has no `uuid` field, so
        // a check written against the wrong name fails here instead of comparing undefined to undefined.
        assert.match(render.uUID, /^[0-9a-f-]{36}$/);
        assert.equal(post.dependencies[0].uUID, render.uUID, `${post.name} depends on ${render.name}`);

        assert.equal(render.commands.length, 1);
        const rc = render.commands[0];
        assert.equal(rc.name, "blender-render");
        assert.equal(rc.totalStepCount, 10);
        assert.equal(rc.parameters.exe, "{blender}");
        assert.equal(rc.parameters.exeArgs, "{blenderArgs}");
        assert.equal(rc.parameters.blendfile, "/shared/shot.blend");
        const args = plain(rc.parameters.args);
        assert.deepEqual(args.slice(0, 3), ["--scene", "Scene", "--python-expr"]);
        assert.deepEqual(args.slice(4), [
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

test("the render tasks set the output overrides of Flamenco 3.9: file extension on, OpenEXR", () => {
    const job = standin.compile(JOB_FILE, SUBMITTED, { created: CREATED });
    const args = renderArgs(job);
    const statements = argAfter(args, "--python-expr").split("; ");
    // As simple_blender_render.js of 3.9 sets them, then the extension's own post-process switched off.
    assert.deepEqual(statements.slice(0, 5), [
        "import bpy",
        "r = bpy.context.scene.render",
        "r.use_file_extension = True",
        "r.use_overwrite = False",
        "r.use_placeholder = False",
    ]);
    assert.match(statements[5], /setattr\(s\.onnx_image_runtime, 'postprocess', False\)/);
    assert.ok(!/[{}]/.test(argAfter(args, "--python-expr")), "no braces: the Manager would take them for variables");
    // Blender runs its arguments in order: everything that sets the output comes before the render.
    const at = (flag) => args.indexOf(flag);
    assert.ok(at("--python-expr") >= 0 && at("--python-expr") < at("--render-frame"));
    assert.ok(at("--render-output") < at("--render-frame") && at("--render-format") < at("--render-frame"));
    // What the post-process reads is what the render writes: the output with Blender's .exr extension.
    assert.equal(job.settings.input_pattern, argAfter(args, "--render-output") + ".exr");
});

test("the render format is OpenEXR whatever the scene says, a multilayer EXR staying multilayer", () => {
    const cases = [
        ["PNG", "OPEN_EXR"], ["JPEG", "OPEN_EXR"], ["TIFF", "OPEN_EXR"], ["OPEN_EXR", "OPEN_EXR"],
        ["OPEN_EXR_MULTILAYER", "OPEN_EXR_MULTILAYER"], [undefined, "OPEN_EXR"],
    ];
    for (const [format, want] of cases) {
        const settings = { ...SUBMITTED, format };
        if (format === undefined) delete settings.format;
        const job = standin.compile(JOB_FILE, settings, { created: CREATED });
        const args = renderArgs(job);
        assert.equal(argAfter(args, "--render-format"), want, `scene format ${format}`);
        assert.ok(job.settings.input_pattern.endsWith("######.exr"), `scene format ${format}`);
    }
});

test("a job without the settings that have defaults compiles as with the defaults (the Manager fills none)", () => {
    const byKey = settingsByKey();
    const withDefaults = Object.keys(byKey).filter((k) => byKey[k].default !== undefined);
    assert.ok(withDefaults.includes("chunk_size") && withDefaults.includes("post_task_type"));
    const bare = { ...SUBMITTED };
    for (const key of withDefaults) delete bare[key];
    const filled = { ...bare };
    for (const key of withDefaults) filled[key] = byKey[key].default;

    const fromBare = standin.compile(JOB_FILE, bare, { created: CREATED });
    const fromFilled = standin.compile(JOB_FILE, filled, { created: CREATED });
    const shape = (job) => job.tasks.map((t) => ({
        name: t.name, type: t.type, commands: plain(t.commands), dependencies: t.dependencies.map((d) => d.name),
    }));
    assert.deepEqual(shape(fromBare), shape(fromFilled));
    // And the defaults were used: chunks of the default size, the default task type, Python and engine.
    const chunks = Math.ceil(250 / byKey.chunk_size.default);
    assert.equal(fromBare.tasks.filter((t) => t.type == byKey.post_task_type.default).length, chunks);
    const post = fromBare.tasks[1].commands[0].parameters;
    assert.equal(post.exe, byKey.python.default);
    assert.equal(post.args[2], byKey.engine_dir.default);
    assert.equal(argAfter(post.args, "--precision"), byKey.precision.default);
    assert.equal(post.args.includes("--require-gpu"), byKey.require_gpu.default);
    assert.ok(!post.args.includes("--cache-dir"));
    // The job's settings still lack what was not submitted: only the compiled patterns were added.
    for (const key of withDefaults.filter((k) => k != "input_pattern")) {
        assert.ok(!(key in fromBare.settings), `${key} was filled into job.settings`);
    }
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

// The exec command of the first post-process task of a job compiled from SUBMITTED plus `extra`.
const postCommand = (extra) => {
    const job = standin.compile(JOB_FILE, { ...SUBMITTED, ...extra }, { created: CREATED });
    return plain(job.tasks.find((t) => t.type == "onnx-gpu").commands[0].parameters);
};

test("engine 'command' runs the installed onnx-image-runtime with the same sequence arguments", () => {
    const byKey = settingsByKey();
    // Existing farms keep working: their Managers have onnx_python and onnx_engine_dir, not onnx_engine.
    assert.equal(byKey.engine.default, "python");
    assert.deepEqual(plain(byKey.engine.choices), ["python", "command"]);
    assert.equal(byKey.engine_command.default, "{onnx_engine}");

    const python = postCommand({ engine: "python" });
    assert.equal(python.exe, "{onnx_python}");
    assert.deepEqual(python.args.slice(0, 3), ["-c", LAUNCHER, "{onnx_engine_dir}"]);
    const command = postCommand({ engine: "command" });
    // The Manager replaces {onnx_engine} per worker platform; the command's own CLI starts at `sequence`,
    // with no launcher, no engine folder and no Python variable anywhere in the command.
    assert.equal(command.exe, "{onnx_engine}");
    assert.equal(command.args[0], "sequence");
    assert.deepEqual(command.args, python.args.slice(3));
    assert.ok(!JSON.stringify(command).includes("onnx_python") && !JSON.stringify(command).includes("engine_dir"));
    // The setting picks the exe, as `python` does for the other way; each way ignores the other's settings.
    const own = postCommand({ engine: "command", engine_command: "/opt/onnx/bin/onnx-image-runtime", python: "/x/py" });
    assert.equal(own.exe, "/opt/onnx/bin/onnx-image-runtime");
    assert.deepEqual(own.args, command.args);
    assert.equal(postCommand({ engine: "python", engine_command: "/opt/onnx/bin/onnx-image-runtime" }).exe,
        "{onnx_python}");
    // An empty engine_command (a cleared field) takes the default variable, as the other settings do.
    assert.equal(postCommand({ engine: "command", engine_command: "" }).exe, "{onnx_engine}");
    // The Manager does not check choices: an unknown engine is refused here, not compiled into failing tasks.
    assert.throws(() => postCommand({ engine: "wheel" }), /engine "wheel" is not one of python, command/);
});

test("working_space: --working-space for rec2020 and acescg, no flag for rec709, others refused", () => {
    const byKey = settingsByKey();
    assert.deepEqual(plain(byKey.working_space.choices), ["rec709", "rec2020", "acescg"]);
    assert.equal(byKey.working_space.default, "rec709");
    // The add-on evaluates it in the submitting Blender (tests/farm/test_flamenco.py runs it with bpy).
    assert.equal(typeof byKey.working_space.eval, "string");
    assert.equal(byKey.working_space.evalInfo.showLinkButton, true);

    const rec709 = postCommand({ working_space: "rec709" });
    for (const engine of ["python", "command"]) {
        for (const space of ["rec2020", "acescg"]) {
            const args = postCommand({ engine, working_space: space }).args;
            assert.equal(args.filter((a) => a == "--working-space").length, 1, `${engine} ${space}`);
            assert.equal(argAfter(args, "--working-space"), space);
            // Nothing else changes: the flag is added to the rec709 command line.
            const without = args.filter((a, i) => a != "--working-space" && args[i - 1] != "--working-space");
            assert.deepEqual(without, postCommand({ engine, working_space: "rec709" }).args);
        }
    }
    // rec709 is the engine's default: no flag, so an engine from before --working-space runs the job.
    assert.ok(!rec709.args.includes("--working-space"));
    const bare = { ...SUBMITTED };
    delete bare.working_space;
    const absent = standin.compile(JOB_FILE, bare, { created: CREATED }).tasks[1].commands[0].parameters;
    assert.deepEqual(plain(absent.args), rec709.args);
    // The add-on's eval gives the name of a space the engine cannot convert (a custom OCIO config): refused,
    // with that name in the message, instead of post-processing its colours as if they were Rec.709.
    assert.throws(() => postCommand({ working_space: "Linear DCI-P3" }),
        /working_space "Linear DCI-P3": the file's working colour space is not one the engine converts/);
    assert.throws(() => postCommand({ working_space: "ACEScg" }), /working_space "ACEScg"/); // the engine's names only
});

test("bad jobs are refused", () => {
    assert.throws(() => standin.compile(JOB_FILE, { ...SUBMITTED, model: "" }), /no model/);
    assert.throws(() => standin.compile(JOB_FILE, { ...SUBMITTED, format: "FFMPEG" }), /image sequences/);
    assert.throws(
        () => standin.compile(JOB_FILE, { ...SUBMITTED, output_pattern: "/shared/render/shot/{timestamp}/######.exr" }),
        /overwrite/,
    );
    // A chunk size of 0 is an error, not the default: only an absent setting takes the default.
    assert.throws(() => standin.compile(JOB_FILE, { ...SUBMITTED, chunk_size: 0 }), {
        name: "GoError", message: /invalid chunk size/,
    });
});

// ---- The stand-in, held to the real runtime ---------------------------------------------------------------

// A job-type script whose compileJob(job) runs `body`, compiled with the stand-in; returns the job.
const compileBody = (body, settings = {}, options = { created: CREATED }) =>
    standin.compileSource(`const JOB_TYPE = { label: "t", settings: [] };\nfunction compileJob(job) {\n${body}\n}`,
        settings, options);

test("globals are goja's and Flamenco's only: print and alert, no console", () => {
    const { context, printed } = standin.loadJobTypeSource("print('a', 1); alert('b');");
    assert.deepEqual(printed, ["a 1", "b"]);
    const type = (name) => require("node:vm").runInContext(`typeof ${name}`, context);
    const functions = ["print", "alert", "frameChunker", "frameCount", "formatTimestampLocal", "shellSplit", "require"];
    for (const name of functions) {
        assert.equal(type(name), "function", name);
    }
    for (const name of ["author", "path", "process", "JSON", "Map", "Proxy", "GoError"]) {
        assert.notEqual(type(name), "undefined", name);
    }
    // V8 and Node give a context these; goja 81d76064690d has none of them.
    for (const name of ["console", "Intl", "WebAssembly", "SharedArrayBuffer", "Atomics", "BigInt", "WeakRef",
        "FinalizationRegistry", "structuredClone", "setTimeout", "Buffer"]) {
        assert.equal(type(name), "undefined", name);
    }
    assert.throws(() => compileBody("console.log('x');"), { name: "ReferenceError", message: /console/ });
    // Scripts are strict (goja.Compile(..., true)): an undeclared name is an error, not a new global.
    assert.throws(() => compileBody("undeclared = 1;"), { name: "ReferenceError" });
});

test("author.Command takes its parameters as an object, typed as Go converts them", () => {
    for (const bad of ['"string"', "42", "true"]) {
        assert.throws(() => compileBody(`author.Command("exec", ${bad});`), {
            name: "TypeError", message: /could not convert function call parameter 1/,
        }, bad);
    }
    const job = compileBody(`
        const params = { exe: "x", args: ["a"] };
        const t = author.Task("t", "misc");
        t.addCommand(author.Command(5, params, "3"));
        t.addCommand(author.Command("no-steps", null));
        t.addCommand(author.Command("float-steps", {}, 2.9));
        t.addCommand({ name: "from-an-object", parameters: { a: 1 } });
        params.args.push("b"); // the command took a copy (goja exports the object into a Go map)
        job.addTask(t);`);
    assert.deepEqual(plain(job.tasks[0].commands), [
        { name: "5", parameters: { exe: "x", args: ["a"] }, totalStepCount: 3 },
        { name: "no-steps", parameters: null, totalStepCount: 0 },
        { name: "float-steps", parameters: {}, totalStepCount: 2 },
        { name: "from-an-object", parameters: { a: 1 }, totalStepCount: 0 },
    ]);
    assert.throws(() => compileBody(`author.Task("t", "misc").addCommand("exec");`), { name: "TypeError" });
    assert.throws(() => compileBody(`author.Task("t", "misc").addCommand(undefined);`), {
        name: "GoError", message: /nil pointer/,
    });
    assert.throws(() => compileBody(`author.Task(" ", "misc");`), { name: "GoError", message: /name is required/ });
});

test("tasks and jobs are Go structs: uUID, no uuid, no new properties", () => {
    const job = compileBody(`
        const t = author.Task("t", "misc");
        if (t.uuid !== undefined) throw "a task has no uuid";
        job.addTask(t);`);
    assert.match(job.tasks[0].uUID, /^[0-9a-f]{8}-[0-9a-f]{4}-/);
    assert.equal(typeof job.jobID, "string");
    assert.throws(() => compileBody(`author.Task("t", "misc").uuid = "x";`), { name: "TypeError" });
    assert.throws(() => compileBody(`job.extra = 1;`), { name: "TypeError" });
    assert.throws(() => compileBody(`author.Task("t", "misc").addCommand = null;`), { name: "TypeError" });
    // Fields can be written: task.priority is a Go int field.
    const edited = compileBody(`const t = author.Task("t", "misc"); t.priority = 70; job.addTask(t);`);
    assert.equal(edited.tasks[0].priority, 70);
});

test("job.created is a Go time.Time, not a JS Date", () => {
    const job = compileBody(`
        if (job.created instanceof Date) throw "a Date";
        if (typeof job.created.getFullYear !== "undefined") throw "Date methods";
        job.settings.year = job.created.year();
        job.settings.unix = job.created.unix();
        job.settings.stamp = formatTimestampLocal(job.created);
        job.settings.fromDate = formatTimestampLocal(new Date(job.created.unixMilli()));`);
    assert.equal(job.settings.year, CREATED.getFullYear());
    assert.equal(job.settings.unix, CREATED.getTime() / 1000);
    assert.equal(job.settings.stamp, STAMP);
    assert.equal(job.settings.fromDate, STAMP); // goja converts a Date into a time.Time too
    assert.throws(() => compileBody("job.created.getFullYear();"), { name: "TypeError" });
    assert.throws(() => compileBody("formatTimestampLocal(12345);"), { name: "TypeError" });
    // undefined is Go's zero time, 0001-01-01 (a day earlier in a zone west of UTC).
    const zero = compileBody("job.settings.zero = formatTimestampLocal(undefined);");
    assert.match(zero.settings.zero, /^(0001-01-01|0000-12-31)_\d{6}$/);
});

test("job.settings holds what was submitted, no defaults", () => {
    const source = `const JOB_TYPE = { label: "t", settings: [
        { key: "given", type: "string" }, { key: "size", type: "int32", default: 10 } ] };
    function compileJob(job) { job.settings.keys = Object.keys(job.settings).join(","); }`;
    const job = standin.compileSource(source, { given: "x" });
    assert.equal(job.settings.keys, "given");
    assert.equal(job.settings.size, undefined);
});

test("path is Flamenco's crosspath: Go's path functions on slashed paths", () => {
    const run = (expr) => compileBody(`job.settings.out = ${expr};`).settings.out;
    // pkg/crosspath/crosspath_test.go of Flamenco 3.9, and crosspath.Dir, which does not clean the path.
    const cases = [
        ['path.basename("")', "."],
        ['path.basename("/Linux path/with spaces.txt")', "with spaces.txt"],
        ['path.basename("C:\\\\ünicode\\\\is\\\\awésom.tar.gz")', "awésom.tar.gz"],
        ['path.basename("/a/b///")', "b"],
        ['path.basename("///")', "/"],
        ['path.dirname("")', "."],
        ['path.dirname("justafile.txt")', "."],
        ['path.dirname("/")', "/"],
        ['path.dirname("/file-at-root")', "/"],
        ['path.dirname("C:\\\\file-at-root")', "C:"],
        ['path.dirname("/Mixed path\\\\with/slash.txt")', "/Mixed path/with"],
        ['path.dirname("\\\\\\\\SERVER\\\\ünicode\\\\is\\\\awésom.tar.gz")', "//SERVER/ünicode/is"],
        ['path.dirname("//x/y")', "//x"],
        ['path.dirname("/a//b")', "/a/"],
        ["path.join()", ""],
        ['path.join("", "")', ""],
        ['path.join("", "", "a", "", "b", "")', "a/b"],
        ['path.join("/", "file-at-root")', "/file-at-root"],
        ['path.join("C:\\\\ünicode", "is\\\\awésom.tar.gz")', "C:/ünicode/is/awésom.tar.gz"],
        ['path.join("\\\\\\\\SERVER", "mount", "dir", "file.txt")', "//SERVER/mount/dir/file.txt"],
        ['path.join("a/b", "../../../xyz")', "../xyz"],
        ['path.join("/a", "../../b")', "/b"],
        ['path.join("//x", "y")', "/x/y"],
        ['path.join("a\\\\b", "..")', "."], // cleaned before the backslash becomes a slash
        ['path.stem("")', ""],
        ['path.stem("stem.tar.gz")', "stem.tar"],
        ['path.stem("C:\\\\path/to\\\\mixed/slashes\\\\file.txt")', "file"],
        ['path.stem(".blend")', ""],
    ];
    for (const [expr, want] of cases) assert.equal(run(expr), want, expr);
});

test("shellSplit is google/shlex: quotes, escapes, comments, and a Go error value", () => {
    const split = (text) => plain(compileBody(`job.settings.out = shellSplit(${JSON.stringify(text)});`).settings.out);
    // internal/manager/job_compilers/js_globals_test.go of Flamenco 3.9:
    assert.deepEqual(split("--python-expr 'print(1 + 1)'"), ["--python-expr", "print(1 + 1)"]);
    // shlex.go's state machine:
    assert.deepEqual(split('one "two three" four'), ["one", "two three", "four"]);
    assert.deepEqual(split('a"b c"d'), ["ab cd"]);
    assert.deepEqual(split('"a\\"b" \'c\\d\''), ['a"b', "c\\d"]);
    assert.deepEqual(split('x "" y'), ["x", "", "y"]);
    assert.deepEqual(split("a\\ b"), ["a b"]);
    assert.deepEqual(split("a #comment\nb c#d"), ["a", "b", "c#d"]);
    assert.deepEqual(split("  \t\n"), []);
    const thrown = (text) => {
        try {
            compileBody(`shellSplit(${JSON.stringify(text)});`);
        } catch (e) {
            return e;
        }
        assert.fail(`${text}: no error`);
    };
    const unclosed = thrown("--python-expr invalid_quoting(1 + 1)'");
    assert.ok(!(unclosed instanceof Error), "Flamenco throws the Go error value, not an Error");
    assert.equal(String(unclosed), "EOF found when expecting closing quote");
    assert.equal(String(thrown("a\\")), "EOF found after escape character");
});

test("frameChunker, frameCount and job.addTask behave as Flamenco's", () => {
    const run = (expr) => plain(compileBody(`job.settings.out = ${expr};`).settings.out);
    // internal/manager/job_compilers/js_globals_test.go of Flamenco 3.9:
    const want = ["1-4", "5-8", "9,10,20,21", "22-25", "40"];
    assert.deepEqual(run('frameChunker("1..10,20..25,40,3..8", 4)'), want);
    assert.deepEqual(run('frameChunker("1-10,20-25,40", 4)'), want);
    assert.deepEqual(run('frameChunker(" 1  .. 10,\\t20..25\\n,40   ", 4)'), want);
    assert.deepEqual(run('frameChunker("47", 4)'), ["47"]);
    assert.deepEqual(run('frameChunker("1-3", 3)'), ["1-3"]);
    assert.throws(() => run('frameChunker("   ", 4)'), { name: "GoError", message: /empty range/ });
    assert.throws(() => run('frameChunker(" 1 10", 4)'), { name: "GoError", message: /1 10/ });
    // An absent chunk size is Go's zero value, 0: an error, not a default.
    assert.throws(() => run('frameChunker("1-10", undefined)'), { name: "GoError", message: /chunk size.*: 0/ });
    assert.equal(run('frameCount("1-250")'), 250);

    const job = compileBody(`
        const a = author.Task("a", "misc");
        const b = author.Task("b", "misc");
        job.addTask(b);
        b.addDependency(a); // too late: the job has its own copy
        b.addCommand(author.Command("echo", {}));`);
    assert.deepEqual(plain(job.tasks[0].dependencies), []);
    assert.deepEqual(plain(job.tasks[0].commands), []);
    // The Manager refuses to store a job with a dependency on a task that was never added to it.
    assert.throws(() => compileBody(`
        const a = author.Task("a", "misc");
        const b = author.Task("b", "misc");
        b.addDependency(a);
        job.addTask(b);`), /depends on a task that is not part of this job/);
});
