# Trang tài khoản (khóa API, kết nối trợ lý) — tiếng Việt.
nav-api-keys = Khóa API
nav-assistants = Kết nối trợ lý

## Khóa API (/app/api-keys)
apikeys-title = Khóa API
apikeys-intro = Khóa API cho phép những trợ lý không tự đăng nhập được (Claude Code, Cursor, VS Code, Claude Desktop) dùng các công cụ của bạn thay bạn. Hãy giữ mỗi khóa như một mật khẩu: không chia sẻ cho ai, và thu hồi khóa bạn không còn dùng.
apikeys-setup-link = Cách kết nối trợ lý của bạn
apikeys-list = Các khóa của bạn
apikeys-empty = Bạn chưa có khóa API nào.
apikeys-name = Tên
apikeys-prefix = Bắt đầu bằng
apikeys-created = Ngày tạo
apikeys-last-used = Dùng lần cuối
apikeys-never = Chưa dùng
apikeys-actions = Thao tác
apikeys-revoke = Thu hồi
apikeys-revoke-label = Thu hồi khóa { $name } ({ $value }…)
apikeys-revoked-list = { $n ->
   *[other] { $n } khóa đã thu hồi
}
apikeys-revoked-at = Ngày thu hồi
apikeys-new-title = Tạo khóa mới
apikeys-name-help = Để bạn phân biệt các khóa, ví dụ “Cursor trên laptop”.
apikeys-create = Tạo khóa
apikeys-limit = Bạn đang có { $max } khóa, mức tối đa cùng lúc. Hãy thu hồi một khóa không còn dùng để tạo khóa mới.
apikeys-error-name-empty = Nhập tên cho khóa
apikeys-error-name-long = Nhập tên tối đa { $max } ký tự, trên một dòng
apikeys-resent = Biểu mẫu này đã được gửi trước đó và khóa của nó đã được tạo: khóa nằm trong danh sách. Mỗi khóa chỉ hiển thị một lần; nếu bạn chưa kịp sao chép, hãy thu hồi nó và tạo khóa khác.
apikeys-created-title = Khóa API mới của bạn
apikeys-created-text = Hãy sao chép khóa ngay: đây là lần duy nhất khóa được hiển thị, sau này không ai xem lại được. Hãy cất nó ở nơi an toàn, chẳng hạn trình quản lý mật khẩu.
apikeys-created-name = Khóa “{ $name }”
apikeys-created-next = Tiếp theo, hãy dán khóa vào trợ lý của bạn.
apikeys-done = Tôi đã sao chép
apikeys-copy = Sao chép
apikeys-copied = Đã sao chép
apikeys-copy-label = Sao chép khóa { $name }
apikeys-revoked = Khóa “{ $name }” ({ $value }…) đã bị thu hồi: khóa không còn dùng được nữa.
apikeys-confirm-title = Thu hồi khóa này?
apikeys-confirm-text = Thu hồi khóa “{ $name }” ({ $value }…)? Các trợ lý đang dùng khóa này sẽ ngừng hoạt động ngay. Không thể hoàn tác.
apikeys-confirm-yes = Thu hồi khóa

## Kết nối trợ lý (/app/assistants)
assistants-title = Kết nối trợ lý
assistants-intro = Dùng các công cụ của bạn ngay trong trợ lý AI: mỗi cấu hình dưới đây đều sẵn sàng để dán.
assistants-address = Địa chỉ MCP của bạn
assistants-with-key = Trợ lý dùng khóa API
assistants-with-key-text = Thay { $value } bằng một khóa API của bạn.
assistants-keys-link = Tạo khóa API
assistants-key-placeholder = <khóa API của bạn>
assistants-claude-code-how = Chạy lệnh này trong cửa sổ dòng lệnh (terminal):
assistants-cursor-how = Đặt nội dung này vào tệp .cursor/mcp.json trong dự án (hoặc ~/.cursor/mcp.json để dùng cho mọi dự án):
assistants-vscode-how = Đặt nội dung này vào tệp .vscode/mcp.json trong dự án:
assistants-claude-desktop-how = Khi VieAgent được cài trên chính máy này, Claude Desktop có thể tự khởi động nó (vieagent stdio). Trong Claude Desktop, mở Settings → Developer → Edit Config rồi đặt nội dung này vào claude_desktop_config.json, với đường dẫn theo bản cài của bạn:
assistants-copy-label = Sao chép: { $name }
assistants-oauth = Claude.ai và ChatGPT
assistants-oauth-text = Các trợ lý này không dùng khóa API: bạn đăng nhập bằng tài khoản của mình. Hãy thêm một trình kết nối tùy chỉnh (custom connector) với địa chỉ này, rồi đăng nhập khi được hỏi.
assistants-oauth-claude = Claude.ai: Settings → Connectors → Add custom connector.
assistants-oauth-chatgpt = ChatGPT: Settings → Apps & Connectors → Create (chế độ nhà phát triển).
assistants-oauth-off = Cổng này chưa hỗ trợ đăng nhập cho Claude.ai và ChatGPT. Hãy dùng một trong các trợ lý ở trên, với khóa API.
