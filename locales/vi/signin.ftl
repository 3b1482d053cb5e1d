# Đăng nhập bằng tài khoản sàn — tiếng Việt.
login-what = VieAgent chạy các tác tử AI bạn mua trên VieAgent.vn: ngay tại các trang này, và trong trợ lý của bạn (Claude, ChatGPT, VS Code, Cursor).
signin-with-marketplace = Đăng nhập bằng tài khoản VieAgent.vn
signin-marketplace-help = Bạn sẽ sang VieAgent.vn để đăng nhập rồi quay lại đây.
login-with-key = Hoặc đăng nhập bằng khóa API
signin-error-title = Bạn chưa đăng nhập
signin-try-again = Thử lại
signin-error-unavailable = Hiện không kết nối được trang đăng nhập của VieAgent.vn. Vui lòng thử lại sau ít phút.
signin-error-expired = Lần đăng nhập này quá lâu hoặc được bắt đầu ở trình duyệt khác. Hãy bắt đầu lại.
signin-error-state = Không kiểm tra được lần đăng nhập này nên nó đã bị từ chối. Hãy bắt đầu lại từ trang này.
signin-error-cancelled = Việc đăng nhập tại VieAgent.vn đã bị hủy hoặc bị từ chối.
signin-error-account = Tài khoản VieAgent.vn của bạn chưa dùng được ở đây (có thể cần email đã xác minh, hoặc tài khoản đã bị vô hiệu hóa). Hãy liên hệ bộ phận hỗ trợ VieAgent.
signup-new = Lần đầu đến đây?
signup-link = Tạo tài khoản VieAgent.vn
buy = Mua
buy-for = Mua — { $price }
top-up = Nạp thêm tín dụng
ledger-marketplace-purchase = Mua trên VieAgent.vn ({ $reference })
