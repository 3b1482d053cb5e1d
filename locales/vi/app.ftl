# Ứng dụng web VieAgent — tiếng Việt.
# Mỗi thông điệp ở đây có bản tương ứng trong ../en/app.ftl (có kiểm thử).

## Khung trang
skip-to-content = Chuyển đến nội dung
nav-label = Điều hướng chính
nav-tools = Công cụ
nav-catalog = Chợ tác tử
nav-history = Lịch sử
nav-credits = Tín dụng
nav-credentials = Khóa
lang-label = Ngôn ngữ
sign-out = Đăng xuất
yes = Có
no = Không
cancel = Hủy
back-to-tools = Quay lại công cụ của bạn
start-again = Bắt đầu lại
title-with-errors = Lỗi: { $title }

## Lỗi
error-title = Chưa thực hiện được
error-server-title = Đã xảy ra lỗi
error-server-text = Máy chủ không hoàn tất được yêu cầu này. Bạn không bị trừ gì. Vui lòng thử lại sau ít phút.
error-not-found-text = Không có gì ở đây, hoặc bạn không có quyền xem.
error-busy-text = Hiện có quá nhiều yêu cầu. Vui lòng chờ một chút rồi thử lại.
csrf-title = Không thể nhận biểu mẫu này
csrf-text = Biểu mẫu không đến từ trang này hoặc đã hết hạn. Hãy quay lại, tải lại trang và thử lại.

## Đăng nhập
login-title = Đăng nhập
login-intro = Đăng nhập bằng khóa API VieAgent của bạn. Khóa chỉ được kiểm tra một lần; sau đó trình duyệt giữ phiên đăng nhập, không giữ khóa.
login-api-key = Khóa API
login-api-key-help = Bắt đầu bằng vak_
login-submit = Đăng nhập
login-error-empty = Nhập khóa API của bạn.
login-error-invalid = Khóa API không hợp lệ hoặc đã bị thu hồi. Hãy kiểm tra bạn đã sao chép đủ cả khóa.
login-error-disabled = Tài khoản này đã bị vô hiệu hóa. Hãy liên hệ bộ phận hỗ trợ VieAgent.

## Công cụ
tools-title = Công cụ của bạn
tools-empty = Bạn chưa có công cụ nào.
tools-price = Giá
tools-free = Miễn phí
tools-bought = Đã mua
tools-not-bought = Chưa
tools-keys = Khóa
tools-key-stored = đã lưu
tools-connect = Kết nối { $provider }
tools-open = Mở
tools-open-label = Mở { $tool }
tools-all-intro = Trợ lý của bạn nhìn thấy mọi tác tử trong chợ.
tools-browse = Xem chợ tác tử
tools-chosen-intro = Đây là các tác tử mà trợ lý của bạn nhìn thấy. Hãy gỡ những tác tử không còn cần đến, hoặc tìm thêm trong chợ.
tools-chosen-empty = Trợ lý của bạn chưa có tác tử nào. Hãy tìm tác tử bạn cần trong chợ và thêm vào.
tools-find-more = Tìm thêm tác tử trong chợ
price-one-time = { $amount } { $currency } một lần
price-monthly = { $amount } { $currency } mỗi tháng
price-either = { $first } hoặc { $second }
cost-free-call = Không tốn tín dụng
cost-per-call = { $n } tín dụng mỗi lần chạy
credits-count = { $n } tín dụng

## Chợ tác tử
catalog-title = Chợ tác tử
catalog-intro = Tìm tác tử và thêm vào trợ lý của bạn: trợ lý chỉ nhìn thấy những tác tử bạn đã thêm.
catalog-intro-all = Trợ lý của bạn dùng được mọi tác tử ở đây. Mở một tác tử để chạy ngay bằng biểu mẫu.
catalog-search-label = Tìm tác tử
catalog-search-help = Theo tên hoặc công dụng, bằng tiếng Việt hay tiếng Anh. Gõ không dấu cũng được: “tom tat” vẫn tìm ra “Tóm tắt”.
catalog-search = Tìm
catalog-results = Kết quả cho “{ $query }”
catalog-all = Tất cả tác tử
catalog-none = Không có tác tử nào khớp với “{ $query }”. Hãy thử từ khác.
catalog-see-all = Xem tất cả tác tử
catalog-empty = Chợ chưa có tác tử nào.
catalog-pages = Các trang kết quả
catalog-more = Xem thêm kết quả
catalog-first = Về trang kết quả đầu
catalog-in-toolbox = Đã có trong trợ lý
catalog-error-long = Hãy tìm với tối đa { $max } ký tự.
catalog-error-cursor = Không có trang kết quả này. Hãy tìm lại từ đầu.
toolbox-add = Thêm vào trợ lý của tôi
toolbox-remove = Gỡ khỏi trợ lý
toolbox-added = Đã thêm “{ $tool }” vào trợ lý của bạn.
toolbox-removed = Đã gỡ “{ $tool }” khỏi trợ lý của bạn. Lịch sử các lần chạy vẫn được giữ.
toolbox-error-unknown = Tác tử này không có trong chợ nên chưa thêm được. Hãy tìm lại.

## Biểu mẫu của công cụ
tool-all-tools = Tất cả công cụ
tool-cost = Chi phí
tool-balance = Tín dụng của bạn
tool-not-bought = Công cụ này có tính phí và bạn chưa mua, nên lần chạy sẽ bị từ chối.
tool-short-of-credits = Bạn không đủ tín dụng cho một lần chạy.
form-required-note = Các trường có dấu * là bắt buộc.
form-required = (bắt buộc)
form-choose = — Chọn —
form-unset = — Để trống —
form-add-row = Thêm { $item }
form-remove = Xóa
form-no-rows = Chưa có.
form-arguments-json = Tham số (JSON)
form-json-help = Nhập một giá trị JSON.
run = Chạy
run-running = Đang chạy…
run-result = Kết quả
run-failed = Công cụ chưa chạy xong
run-credits-used = { $n ->
    [0] Không tốn tín dụng
   *[other] Đã dùng { $n } tín dụng
}
run-history-entry = Xem trong lịch sử
run-still-running = Vẫn đang chạy
run-still-running-text = Lần chạy này chưa xong. Kết quả sẽ có trong lịch sử của bạn.
run-missing-key = Thiếu khóa
run-missing-key-text = Công cụ này cần khóa { $providers } của bạn. Hãy thêm khóa rồi chạy lại.
run-add-key = Thêm khóa { $provider }
run-error-limited = Bạn đang chạy công cụ quá nhanh. Vui lòng chờ một chút rồi thử lại.
run-error-journal = Hệ thống tạm thời không ghi nhận được lần chạy, nên công cụ chưa được chạy. Bạn không bị trừ gì. Vui lòng thử lại sau ít phút.
run-error-unavailable = Hiện chưa chạy được công cụ. Bạn không bị trừ gì. Vui lòng thử lại sau ít phút.

run-details = Thông báo từ tác tử
run-why-purchase-required = Công cụ này có tính phí và bạn chưa mua.
run-why-insufficient-credits = Bạn không đủ tín dụng cho lần chạy này. Bạn không bị trừ gì.
run-why-access-denied = Tài khoản của bạn không dùng được công cụ này.
run-why-credential-unreadable = Không đọc được một khóa của bạn cho công cụ này. Hãy thêm lại khóa ở trang Khóa.
run-why-credential-rejected = Nhà cung cấp từ chối khóa của bạn. Hãy kiểm tra hoặc thay khóa ở trang Khóa.
run-why-timeout = Công cụ chạy quá lâu và đã bị dừng. Bạn không bị trừ gì.
run-why-rate-limited = Công cụ đang bận. Vui lòng chờ một chút rồi thử lại.
run-why-cancelled = Lần chạy đã bị dừng trước khi xong. Bạn không bị trừ gì.
run-why-unavailable = Hiện không kết nối được dịch vụ của công cụ. Bạn không bị trừ gì. Vui lòng thử lại sau.
run-why-flow-missing = Công cụ này tạm thời không dùng được.
run-why-too-large = Dữ liệu vào hoặc câu trả lời quá lớn cho công cụ này.
run-why-failed = Công cụ báo lỗi.
draft-expired = Biểu mẫu này chỉ được giữ trong một giờ và đã hết hạn. Hãy điền lại.

## Gợi ý dưới trường
help-length-range = Từ { $min } đến { $max } ký tự.
help-length-min = Ít nhất { $min } ký tự.
help-length-max = Tối đa { $max } ký tự.
help-integer-range = Số nguyên từ { $min } đến { $max }.
help-number-range = Số từ { $min } đến { $max }.
help-min = Ít nhất { $min }.
help-max = Tối đa { $max }.
help-integer = Số nguyên.
help-max-items = Tối đa { $n } dòng.
help-default = Mặc định: { $value }.
help-format-email = Ví dụ: ten@example.com
help-format-uri = Địa chỉ web, ví dụ https://example.com
help-format-uuid = Mã dạng 123e4567-e89b-12d3-a456-426614174000

## Lỗi của trường
error-summary-title = Có lỗi cần sửa
error-required = Hãy nhập { $field }.
error-choose = Hãy chọn { $field }.
error-choose-yes-no = Hãy chọn Có hoặc Không cho { $field }.
error-add-row = Hãy thêm ít nhất một dòng vào { $field }.
error-text = Hãy nhập văn bản.
error-json = Hãy nhập một giá trị JSON hợp lệ.
error-choose-option = Hãy chọn một trong các lựa chọn.
error-min-length = Hãy nhập ít nhất { $n } ký tự.
error-max-length = Hãy nhập tối đa { $n } ký tự.
error-integer-range = Hãy nhập số nguyên từ { $min } đến { $max }.
error-integer-min = Hãy nhập số nguyên không nhỏ hơn { $min }.
error-integer-max = Hãy nhập số nguyên không lớn hơn { $max }.
error-integer-gt = Hãy nhập số nguyên lớn hơn { $min }.
error-integer-lt = Hãy nhập số nguyên nhỏ hơn { $max }.
error-integer = Hãy nhập một số nguyên.
error-number-range = Hãy nhập số từ { $min } đến { $max }.
error-number-min = Hãy nhập số không nhỏ hơn { $min }.
error-number-max = Hãy nhập số không lớn hơn { $max }.
error-number-gt = Hãy nhập số lớn hơn { $min }.
error-number-lt = Hãy nhập số nhỏ hơn { $max }.
error-number = Hãy nhập một số.
error-min-items = Hãy thêm ít nhất { $n } dòng.
error-max-items = Chỉ giữ tối đa { $n } dòng.
error-unique-items = Hãy xóa các dòng bị trùng.
error-pattern = Giá trị chưa đúng định dạng. Hãy xem gợi ý dưới trường.
error-format-email = Hãy nhập địa chỉ email, ví dụ ten@example.com.
error-format-date = Hãy nhập ngày, ví dụ 2026-12-31.
error-format-date-time = Hãy nhập ngày và giờ.
error-format-time = Hãy nhập giờ, ví dụ 09:30.
error-format-uri = Hãy nhập địa chỉ web bắt đầu bằng https://
error-format-uuid = Hãy nhập mã dạng 123e4567-e89b-12d3-a456-426614174000.
error-unexpected = Công cụ này không nhận: { $names }.
error-not-accepted = Giá trị này không được chấp nhận.

## Lịch sử và các lần chạy
history-title = Lịch sử
history-empty = Chưa có lần chạy nào.
history-when = Thời gian
history-tool = Công cụ
history-status = Trạng thái
history-duration = Thời lượng
history-credits = Tín dụng
history-older = Các lần chạy cũ hơn
history-removed-tool = (công cụ đã bị gỡ)
status-pending = Đang chờ
status-running = Đang chạy
status-success = Hoàn tất
status-failed = Thất bại
duration-ms = { $n } ms
duration-s = { $n } giây
call-title = Lần chạy { $tool }
call-started = Bắt đầu
call-id = Mã
call-run-again = Sửa và chạy lại
call-error = Lỗi
call-input = Đầu vào (đã ẩn bí mật)
call-output = Đầu ra (đã ẩn bí mật)

## Tín dụng
credits-title = Tín dụng
credits-balance = Số dư
credits-reserved = Đang giữ cho các lần chạy
credits-available = Có thể dùng
credits-ledger = Biến động
credits-ledger-empty = Chưa có biến động nào.
credits-change = Thay đổi
credits-reason = Lý do
credits-balance-after = Số dư sau
ledger-call = Một lần chạy
ledger-signup = Tín dụng chào mừng

## Khóa
keys-title = Khóa của bạn
keys-intro = Khóa nhà cung cấp của bạn được lưu mã hóa và chỉ dùng cho các lần chạy của chính bạn. Không ai đọc lại được, kể cả bạn.
keys-empty = Chưa lưu khóa nào.
keys-stored = Các khóa đã lưu
keys-provider = Nhà cung cấp
keys-provider-help = Ví dụ openai, anthropic hoặc google_sheets.
keys-name = Tên khóa
keys-name-help = Để phân biệt nhiều khóa của cùng nhà cung cấp. Giữ "default" nếu bạn chỉ có một khóa.
keys-value = Khóa
keys-updated = Cập nhật
keys-actions = Thao tác
keys-delete = Xóa
keys-delete-label = Xóa khóa { $provider } "{ $name }"
keys-add-title = Thêm hoặc thay khóa
keys-save = Lưu khóa
keys-saved = Đã lưu khóa { $provider } "{ $name }". Lần chạy tiếp theo sẽ dùng khóa này.
keys-deleted = Đã xóa khóa { $provider } "{ $name }".
keys-confirm-title = Xóa khóa này?
keys-confirm-text = Khóa { $provider } "{ $name }" của bạn sẽ bị xóa. Các công cụ cần khóa này sẽ hỏi lại khóa.
keys-confirm-yes = Đồng ý xóa
keys-error-provider-empty = Hãy nhập tên nhà cung cấp, ví dụ openai.
keys-error-provider = Chỉ dùng chữ thường, chữ số, dấu chấm, gạch ngang hoặc gạch dưới (tối đa 64 ký tự), ví dụ google_sheets.
keys-error-name = Hãy nhập tên từ 1 đến 64 ký tự, không xuống dòng.
keys-error-value-empty = Hãy dán khóa của bạn.
keys-error-value-size = Khóa này quá dài. Hãy kiểm tra bạn chỉ dán đúng khóa.

## Liên kết kết nối
connect-title = Thêm khóa của bạn
connect-intro = Cho tài khoản { $email }. Khóa được chuyển thẳng vào kho mã hóa của VieAgent; trợ lý của bạn không nhìn thấy khóa. Liên kết này chỉ dùng được một lần.
connect-key-label = Khóa { $provider } của bạn
connect-save = Lưu
connect-error-missing = Hãy dán khóa { $provider } của bạn.
connect-done-title = Đã lưu
connect-done-text = Khóa của bạn đã được lưu. Hãy quay lại trợ lý và chạy lại công cụ.
connect-done-sign-in = Đăng nhập để xem công cụ của bạn
link-title = Liên kết không hợp lệ
link-heading = Không dùng được liên kết này
link-sign-in = Đăng nhập để quản lý khóa
link-error-unavailable = Hiện chưa kiểm tra được liên kết. Vui lòng thử lại sau ít phút.
link-error-other-user = Liên kết này thuộc về tài khoản khác. Hãy đăng xuất trước, hoặc yêu cầu trợ lý gửi liên kết mới.
link-error-used = Liên kết này đã được dùng. Hãy yêu cầu trợ lý gửi liên kết mới nếu bạn cần thêm khóa khác.
link-error-expired = Liên kết này đã hết hạn. Hãy chạy lại công cụ trong trợ lý để nhận liên kết mới.
link-error-invalid = Liên kết này không hợp lệ. Hãy sao chép toàn bộ liên kết từ trợ lý.
