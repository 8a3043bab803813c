// A thin VS Code client for `archspec lsp` (the server does the work; see docs/editor.md).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("archspec");
  const folder = (vscode.workspace.workspaceFolders || [])[0];
  const expand = (s) => (folder ? s.split("${workspaceFolder}").join(folder.uri.fsPath) : s);
  const [command, ...args] = config.get("command").map(expand);
  const pattern = config.get("files");
  const serverOptions = { command, args };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "yaml", pattern },
      { scheme: "file", language: "json", pattern },
    ],
  };
  client = new LanguageClient("archspec", "archspec", serverOptions, clientOptions);
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
